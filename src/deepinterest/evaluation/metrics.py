"""Ranking metrics over full rankings. One target per example, so Recall@K = HR@K.

Every function takes `ranked`, an (examples x K) array of item indices, best first; -1 marks an
invalid output (no catalog item): a miss, and left out of coverage, popularity and diversity.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def target_positions(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based position of each target in its ranked list, or -1 when absent."""
    hits = ranked == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def hit_rate_and_ndcg(ranked: np.ndarray, targets: np.ndarray, ks: list[int]) -> dict[str, float]:
    """HR@K = share of targets in the top K; NDCG@K = mean of 1/log2(position + 2) over those hits."""
    return metrics_at_positions(target_positions(ranked, targets), ranked.shape[1], ks)


def gains_at(positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per example: hit@k (0/1) and its NDCG gain 1/log2(position + 2), from 0-based target positions (-1: absent)."""
    hit = (positions >= 0) & (positions < k)
    return hit.astype(float), np.where(hit, 1.0 / np.log2(np.where(hit, positions, 0) + 2.0), 0.0)


def metrics_at_positions(positions: np.ndarray, width: int, ks: list[int]) -> dict[str, float]:
    """HR@K and NDCG@K from target positions in ranked lists `width` long."""
    if width < max(ks):
        raise ValueError(f"ranked lists have {width} items, fewer than K={max(ks)}")
    out: dict[str, float] = {}
    for k in sorted(ks):
        hit, gain = gains_at(np.asarray(positions), k)
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(gain.mean())
    return out


def catalog_coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-K list."""
    top = ranked[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def popularity_percentile(ranked: np.ndarray, train_counts: np.ndarray, k: int) -> float:
    """Mean popularity percentile of recommended items (1.0: the most popular item; 0: the least).

    An item's percentile is the share of items strictly less popular than it in the training part.
    """
    percentile = np.searchsorted(np.sort(train_counts), train_counts, side="left") / max(len(train_counts) - 1, 1)
    top = ranked[:, :k]
    return float(percentile[top[top >= 0]].mean()) if (top >= 0).any() else 0.0


def intra_list_diversity(ranked: np.ndarray, item_vectors: sparse.csr_matrix, k: int) -> float | None:
    """Mean pairwise cosine distance within each top-K list, over items that have text.

    Uses ||sum x||^2 = sum ||x||^2 + sum_{i != j} x_i.x_j on L2-normalised rows, so no K x K loop.
    Lists with fewer than two items with text are left out; None when no list qualifies.
    """
    top = ranked[:, :k]
    valid = top >= 0
    has_text = np.asarray(item_vectors.multiply(item_vectors).sum(axis=1)).ravel() > 0
    n_text = (has_text[np.where(valid, top, 0)] & valid).sum(axis=1)
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])[valid.ravel()]
    indicator = sparse.csr_matrix((np.ones(rows.size), (rows, top[valid])), shape=(top.shape[0], item_vectors.shape[0]))
    summed = indicator @ item_vectors
    squared_norm = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    pairs = n_text * (n_text - 1)
    usable = pairs > 0
    if not usable.any():
        return None
    mean_similarity = (squared_norm[usable] - n_text[usable]) / pairs[usable]
    return float((1.0 - mean_similarity).mean())
