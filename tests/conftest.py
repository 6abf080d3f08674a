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
def private_embedding_cache(tmp_path_factory, request):
    """Tests never read or write the user's embedding cache; their own outlives the session.

    Embedding all of Office takes minutes, so the session starts from the vectors earlier sessions kept in
    pytest's cache folder (.pytest_cache, ignored by git: a clean clone starts empty) and hands back what it
    added. The copy is whole SQLite files, each written aside and renamed, so concurrent sessions never
    see half of one.
    """
    import os

    cache = tmp_path_factory.mktemp("cache")
    kept = request.config.cache.mkdir("deepinterest-embeddings") / "embeddings.sqlite"
    if kept.exists():
        copy_sqlite(kept, cache / "embeddings.sqlite")
    os.environ["DEEPINTEREST_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield
    if (cache / "embeddings.sqlite").exists():
        copy_sqlite(cache / "embeddings.sqlite", kept)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a (WAL) SQLite database, swapped in atomically."""
    import os
    import sqlite3

    aside = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    aside.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(aside) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    os.replace(aside, target)


@pytest.fixture(scope="session")
def office_sid(office, tmp_path_factory) -> Path:
    """A small RQ-KMeans SID catalog of Office (64 codes a level): fast, and real."""
    from deepinterest.config import load_config
    from deepinterest.tokenizer.stage import tokenize

    out = tmp_path_factory.mktemp("sid") / "office"
    tokenize(office, out, load_config(None, ["tokenizer.method=rqkmeans", "tokenizer.codebook_size=64"]), progress=False)
    return out


@pytest.fixture(scope="session")
def catalog():
    """A 40-item synthetic catalog of 3 levels of 4 codes; five colliding items carry a fourth (suffix) token."""
    import numpy as np

    from deepinterest.tokenizer.catalog import SIDCatalog

    codes = np.random.default_rng(0).integers(0, 4, size=(40, 3))
    codes[:5] = codes[0]
    return SIDCatalog.build(codes, 4, [str(i) for i in range(40)])


def tiny_sft(backbone: str, max_items: int, **options):
    """A tiny from-scratch SFT config (no dropout) for model-level tests."""
    from deepinterest.config import SFTConfig

    return SFTConfig(backbone=backbone, d_model=32, layers=2, heads=2, d_ff=64, dropout=0.0, max_items=max_items, **options)

