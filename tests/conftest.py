"""Shared fixtures: the real benchmark data beside the checkout, and prepared copies of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepinterest.config import DataConfig
from deepinterest.data.prepare import prepare
from deepinterest.data.registry import data_root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return data_root()


@pytest.fixture(scope="session")
def office(tmp_path_factory) -> Path:
    """Office prepared with the default settings (leave-one-out, 5-core)."""
    out = tmp_path_factory.mktemp("data") / "office"
    prepare(DataConfig(source="office"), out)
    return out


@pytest.fixture(scope="session", autouse=True)
def private_embedding_cache(tmp_path_factory):
    """Tests never read or write the user's embedding cache."""
    import os

    os.environ["DEEPINTEREST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def office_sid(office, tmp_path_factory) -> Path:
    """A small RQ-KMeans SID catalog of Office (64 codes a level): fast, and real."""
    from deepinterest.config import load_config
    from deepinterest.tokenizer.stage import tokenize

    out = tmp_path_factory.mktemp("sid") / "office"
    tokenize(office, out, load_config(None, ["tokenizer.method=rqkmeans", "tokenizer.codebook_size=64"]), progress=False)
    return out
