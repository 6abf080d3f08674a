"""Shared pieces of the quantizers: balanced assignment of the last level and per-level statistics."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def sinkhorn_assign(distances: torch.Tensor, epsilon: float, iters: int) -> torch.Tensor:
    """Assign rows to codes with near-uniform code use (Sinkhorn-Knopp on exp(-d / epsilon)).

    Distances are scaled to [0, 1] first so epsilon means the same for any embedding scale. The
    transport plan's argmax per row is the code; it spreads items over codes where plain argmin
    would pile similar items onto one code and so onto one full Semantic ID.
    """
    d = distances.double()
    d = (d - d.min()) / (d.max() - d.min()).clamp(min=1e-12)
    log_q = -d / epsilon
    n, k = log_q.shape
    for _ in range(iters):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - np.log(k)  # columns sum to 1/k
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - np.log(n)  # rows sum to 1/n
    return log_q.argmax(dim=1)


def assign_last_level(distances: torch.Tensor, prefix: np.ndarray, mode: str, epsilon: float, iters: int) -> np.ndarray:
    """Codes of the last level given items x codes distances and each item's earlier codes.

    nearest: the closest code. sinkhorn: balanced code use over all items. unique: within each
    group of items sharing all earlier codes, distinct codes with the least total distance (a
    minimum-cost assignment), so a full code is shared only where a group outgrows the codebook.
    """
    if mode == "sinkhorn":
        return sinkhorn_assign(distances, epsilon, iters).cpu().numpy()
    nearest = distances.argmin(dim=1).cpu().numpy()
    if mode == "nearest":
        return nearest
    if mode != "unique":
        raise ValueError(f"unknown last-level assignment {mode!r}")
    codes = nearest.copy()
    d = distances.detach().cpu().numpy()
    _, group = np.unique(prefix, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    for members in np.split(order, starts[1:]):
        if len(members) > 1 and len(set(nearest[members])) < len(members):
            rows, cols = linear_sum_assignment(d[members])  # at most codebook_size rows get distinct codes
            codes[members[rows]] = cols
    return codes


def usage_and_perplexity(codes: np.ndarray, codebook_size: int) -> tuple[list[float], list[float]]:
    """Per level: the share of codes used, and the perplexity exp(H) of the code distribution."""
    usage, perplexity = [], []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        usage.append(float((counts > 0).mean()))
        perplexity.append(float(np.exp(-(p * np.log(p)).sum())))
    return usage, perplexity
