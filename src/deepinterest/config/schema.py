"""Configuration models, one section per pipeline stage. Unknown keys are errors (typos fail loudly)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    source: str | None = Field(None, description="registered dataset name (office, beauty, sports, instruments)")
    format: str | None = Field(None, description="importer for `path` when no registered source is named")
    path: Path | None = None
    kcore: int = Field(5, ge=0, description="keep users and items with at least k interactions (iterated)")
    dedup_consecutive: bool = Field(False, description="drop an interaction that repeats the user's previous item")
    max_history: int = Field(50, ge=1, description="longest history kept for an evaluation example")
    split: Literal["loo", "global"] = Field("loo", description="leave-one-out per user, or global chronological")
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.source is None and (self.format is None or self.path is None):
            raise ValueError("name a registered `source`, or give both `format` and `path`")
        if abs(sum(self.split_ratios) - 1.0) > 1e-6:
            raise ValueError("split_ratios must sum to 1")
        return self


class EvalConfig(Section):
    ks: list[int] = Field(default_factory=lambda: [1, 5, 10, 20])
    batch_size: int = Field(512, ge=1)
    exclude_history: bool = Field(False, description="never rank items already in the user's history")


class SASRecConfig(Section):
    max_len: int = Field(50, ge=1)
    hidden: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    loss: Literal["ce", "bce"] = Field("ce", description="full softmax (ce) or the paper's one-negative BCE")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(200, ge=1)
    patience: int = Field(10, ge=1, description="epochs without a better valid NDCG@10 before stopping")
    threads: int | None = Field(None, description="torch CPU threads (None: torch's default)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, mps")


class ExperimentConfig(Section):
    name: str = "experiment"
    seed: int = 42
    data: DataConfig | None = None
    eval: EvalConfig = Field(default_factory=EvalConfig)
    sasrec: SASRecConfig = Field(default_factory=SASRecConfig)
