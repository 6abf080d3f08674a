"""Settings of `deepinterest serve` (the `serve:` section)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from deepinterest.config.section import Section


class ServeConfig(Section):
    """`deepinterest serve`: the HTTP API and inspection page over a trained run."""

    host: str = Field("127.0.0.1", description="address to bind; localhost unless told otherwise")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")
    max_batch: int = Field(32, ge=1, description="histories searched together at most (1: micro-batching off)")
    max_wait_ms: float = Field(0.0, ge=0, le=1000, description="how long a batch's first request waits for others "
                               "(0: none; requests that arrive during a search still share the next one)")
    max_history: int = Field(200, ge=1, description="longest history a request may send (the model reads its last "
                                                    "sft.max_items)")
    max_body_bytes: int = Field(65536, ge=1024, description="largest request body; larger ones get 413")
    request_timeout_s: float = Field(30.0, gt=0, description="a recommendation not answered by then gets 503")
    interests: Path | None = Field(None, description="RLDI label folder or interests Parquet for explanations "
                                                     "(default: the run's own label stage, when it has one)")
    threads: int | None = Field(None, description="torch CPU threads (None: torch's default)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, mps")
