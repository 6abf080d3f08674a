"""The run engine (stages, fingerprints, resume) and the DeepInterestGR method built on it (`run_pipeline`)."""

from deepinterest.pipeline.method import run_pipeline

__all__ = ["run_pipeline"]
