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
