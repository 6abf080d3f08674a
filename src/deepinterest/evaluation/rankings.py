"""Recompute accuracy metrics from a `rankings.jsonl` file, independently of any model."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deepinterest.data.errors import DataFormatError
from deepinterest.evaluation.metrics import metrics_at_positions


def rankings_file(folder: Path, split: str = "test") -> Path:
    """A run folder's rankings of `split` (test: `rankings.jsonl`, valid: `valid_rankings.jsonl`), or the
    gzipped copy kept in benchmarks/results."""
    plain = Path(folder) / ("rankings.jsonl" if split == "test" else f"{split}_rankings.jsonl")
    packed = plain.with_suffix(".jsonl.gz")
    return packed if packed.exists() and not plain.exists() else plain


def read_positions(path: Path) -> tuple[dict[str, tuple[str, int]], int]:
    """{user: (target, 0-based position of the target or -1)} and the longest ranked list (.jsonl or .jsonl.gz)."""
    out, width = {}, 0
    for number, line in _lines(path):
        try:
            row = json.loads(line)
            if not isinstance(row["ranked"], list):
                raise TypeError(f"ranked is {type(row['ranked']).__name__}, not a list")
            ranked = [None if item is None else str(item) for item in row["ranked"]]  # None: an invalid output
            target, user = str(row["target"]), str(row["user"])
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as exc:
            raise DataFormatError(path, f"bad rankings row: {exc.__class__.__name__} {exc}", number) from None
        # What cannot be measured is refused, not averaged: a user twice, an item twice in one list.
        if user in out:
            raise DataFormatError(path, f"user {user[:60]!r} ranked a second time", number)
        named = [item for item in ranked if item is not None]
        if len(set(named)) != len(named):
            raise DataFormatError(path, "an item appears twice in one ranked list", number)
        out[user] = (target, ranked.index(target) if target in ranked else -1)
        width = max(width, len(ranked))
    if not out:
        raise DataFormatError(path, "no rankings in the file")
    return out, width


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a .jsonl or .jsonl.gz file; a file that is not UTF-8 or not whole gzip is refused."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise DataFormatError(path, f"cannot read the rankings: {exc or 'cut short'}") from None


def metrics_from_rankings(path: Path, ks: list[int] = (1, 5, 10, 20)) -> dict[str, float]:
    rows, width = read_positions(path)
    if width < max(ks):  # a hit beyond the list cannot be measured: refused, naming the file
        raise DataFormatError(path, f"the longest ranked list has {width} items, fewer than K={max(ks)}")
    return metrics_at_positions(np.asarray([p for _, p in rows.values()]), width, list(ks))
