"""Paired bootstrap comparison of two rankings of the same users (is B really better than A?).

Two models ranked on the same test users mostly agree, so their per-user differences have far less
spread than either metric: resampling users (the pairs) gives an honest confidence interval for the
difference, where two separate error bars would hide or invent one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from deepinterest.data.errors import DataFormatError
from deepinterest.evaluation.metrics import gains_at
from deepinterest.evaluation.rankings import read_positions


def parse_metric(metric: str) -> tuple[str, int]:
    match = re.fullmatch(r"(hr|ndcg)@(\d+)", metric)
    if not match or int(match.group(2)) < 1:
        raise ValueError(f"metric must look like hr@10 or ndcg@10, not {metric!r}")
    return match.group(1), int(match.group(2))


def per_user_gain(positions: np.ndarray, metric: str) -> np.ndarray:
    """Each user's hr@K (0/1) or ndcg@K (1/log2(position + 2) inside the top K)."""
    name, k = parse_metric(metric)
    hit, gain = gains_at(positions, k)
    return hit if name == "hr" else gain


def paired_bootstrap(a: Path, b: Path, metric: str = "ndcg@10", resamples: int = 2000, seed: int = 0) -> dict:
    """B minus A on `metric`: the difference, its 95% interval, and the share of resamples where B <= A."""
    rows_a, width_a = read_positions(a)
    rows_b, width_b = read_positions(b)
    if parse_metric(metric)[1] > min(width_a, width_b):
        raise ValueError(f"{metric}: beyond the ranked lists ({min(width_a, width_b)} items); compare at K <= that")
    if rows_a.keys() != rows_b.keys():
        raise DataFormatError(b, f"ranks other users than {a} ({len(rows_a.keys() ^ rows_b.keys())} differ)")
    users = sorted(rows_a)
    if any(rows_a[u][0] != rows_b[u][0] for u in users):
        raise DataFormatError(b, f"has other targets than {a} for the same users (another split?)")
    gain_a = per_user_gain(np.asarray([rows_a[u][1] for u in users]), metric)
    gain_b = per_user_gain(np.asarray([rows_b[u][1] for u in users]), metric)
    diff = gain_b - gain_a
    draws = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[draws].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"metric": metric, "users": len(users), "a": float(gain_a.mean()), "b": float(gain_b.mean()),
            "difference": float(diff.mean()), "ci95": [float(low), float(high)],
            "p_b_not_better": float((means <= 0).mean()), "users_that_differ": int((diff != 0).sum())}
