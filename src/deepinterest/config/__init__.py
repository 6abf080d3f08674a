"""Typed experiment configuration: YAML files validated by pydantic, overridable as `a.b=value`."""

from deepinterest.config.schema import (
    DataConfig,
    EmbeddingConfig,
    EvalConfig,
    ExperimentConfig,
    FusionConfig,
    ItemTextConfig,
    LabelConfig,
    MiningBackendConfig,
    MiningConfig,
    PipelineConfig,
    RewardConfig,
    RLConfig,
    RQKMeansConfig,
    RQVAEConfig,
    SASRecConfig,
    ServeConfig,
    SFTConfig,
    TokenizerConfig,
)
from deepinterest.config.loading import load_config, apply_overrides

__all__ = [
    "RewardConfig",
    "RLConfig",
    "PipelineConfig",
    "LabelConfig",
    "DataConfig", "EmbeddingConfig", "EvalConfig", "ExperimentConfig", "FusionConfig", "ItemTextConfig", "MiningBackendConfig", "MiningConfig",
    "RQKMeansConfig", "RQVAEConfig", "SASRecConfig", "ServeConfig", "SFTConfig", "TokenizerConfig", "load_config", "apply_overrides",
]
