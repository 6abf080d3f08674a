"""RQ-KMeans: residual k-means with faiss, level by level, no neural network."""

from __future__ import annotations

import time

import faiss
import numpy as np
import torch

from deepinterest.config import RQKMeansConfig
from deepinterest.tokenizer.quantize import assign_last_level, sinkhorn_assign


def train_rqkmeans(vectors: np.ndarray, levels: int, codebook_size: int, config: RQKMeansConfig, *,
                   seed: int, last_level: str = "sinkhorn", sinkhorn_epsilon: float = 0.003,
                   sinkhorn_iters: int = 50) -> tuple[np.ndarray, dict]:
    started = time.perf_counter()
    residual = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = residual.shape
    if n < codebook_size:
        raise ValueError(f"{n} items cannot fill a codebook of {codebook_size}; lower tokenizer.codebook_size")
    codes = np.empty((n, levels), dtype=np.int64)
    inertia = []
    for level in range(levels):
        kmeans = faiss.Kmeans(dim, codebook_size, niter=config.niter, nredo=config.nredo, seed=seed + level,
                              max_points_per_centroid=max(256, n // codebook_size + 1), verbose=False)
        kmeans.train(residual)
        distances = torch.cdist(torch.from_numpy(residual), torch.from_numpy(kmeans.centroids))
        if level == levels - 1:
            assigned = assign_last_level(distances, codes[:, :level], last_level, sinkhorn_epsilon, sinkhorn_iters)
        elif level > 0 and config.balance_intermediate:
            assigned = sinkhorn_assign(distances, sinkhorn_epsilon, sinkhorn_iters).numpy()
        else:
            assigned = distances.argmin(dim=1).numpy()
        codes[:, level] = assigned
        residual = residual - kmeans.centroids[assigned]
        inertia.append(float((residual**2).sum(axis=1).mean()))
    return codes, {"residual_mse_per_level": inertia, "train_seconds": round(time.perf_counter() - started, 2)}
