"""Recompute accuracy metrics from a `rankings.jsonl` file, independently of any model."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from deepinterest.data.errors import DataFormatError
from deepinterest.evaluation.metrics import metrics_at_positions


def rankings_file(folder: Path) -> Path:
    """A run folder's rankings: `rankings.jsonl`, or the gzipped copy kept in benchmarks/results."""
    plain = Path(folder) / "rankings.jsonl"
    packed = plain.with_suffix(".jsonl.gz")
    return packed if packed.exists() and not plain.exists() else plain


def read_positions(path: Path) -> tuple[dict[str, tuple[str, int]], int]:
    """{user: (target, 0-based position of the target or -1)} and the longest ranked list (.jsonl or .jsonl.gz)."""
    out, width = {}, 0
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
                ranked = [str(item) for item in row["ranked"]]
                target, user = str(row["target"]), str(row["user"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataFormatError(path, f"bad rankings row: {exc}", number) from None
            # What cannot be measured is refused, not averaged: a user twice, an item twice in one list.
            if user in out:
                raise DataFormatError(path, f"user {user[:60]!r} ranked a second time", number)
            if len(set(ranked)) != len(ranked):
                raise DataFormatError(path, "an item appears twice in one ranked list", number)
            out[user] = (target, ranked.index(target) if target in ranked else -1)
            width = max(width, len(ranked))
    if not out:
        raise DataFormatError(path, "no rankings in the file")
    return out, width


def metrics_from_rankings(path: Path, ks: list[int] = (1, 5, 10, 20)) -> dict[str, float]:
    rows, width = read_positions(path)
    return metrics_at_positions(np.asarray([p for _, p in rows.values()]), width, list(ks))
