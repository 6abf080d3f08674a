"""Typed experiment configuration: YAML files validated by pydantic, overridable as `a.b=value`."""

from deepinterest.config.schema import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    SASRecConfig,
)
from deepinterest.config.loading import load_config, apply_overrides

__all__ = ["DataConfig", "EvalConfig", "ExperimentConfig", "SASRecConfig", "load_config", "apply_overrides"]
