"""Shared pieces of the quantizers: balanced assignment of the last level and per-level statistics."""

from __future__ import annotations

import numpy as np
import torch


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


def usage_and_perplexity(codes: np.ndarray, codebook_size: int) -> tuple[list[float], list[float]]:
    """Per level: the share of codes used, and the perplexity exp(H) of the code distribution."""
    usage, perplexity = [], []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        usage.append(float((counts > 0).mean()))
        perplexity.append(float(np.exp(-(p * np.log(p)).sum())))
    return usage, perplexity
