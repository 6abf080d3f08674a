"""Recompute accuracy metrics from a `rankings.jsonl` file, independently of any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deepinterest.data.errors import DataFormatError
from deepinterest.evaluation.metrics import hit_rate_and_ndcg


def metrics_from_rankings(path: Path, ks: list[int] = (1, 5, 10, 20)) -> dict[str, float]:
    targets, ranked = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
                ids = {item: i for i, item in enumerate(row["ranked"])}
                ranked.append(list(range(len(row["ranked"]))))
                targets.append(ids.get(row["target"], -1))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataFormatError(path, f"bad rankings row: {exc}", number) from None
    width = max(len(r) for r in ranked)
    padded = np.full((len(ranked), width), -2)
    for row, r in enumerate(ranked):
        padded[row, : len(r)] = r
    return hit_rate_and_ndcg(padded, np.asarray(targets), list(ks))
