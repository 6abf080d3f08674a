"""Fuse item text vectors with deep-interest vectors (IEID) and collaborative vectors before quantization."""

from __future__ import annotations

import numpy as np
import torch

from deepinterest.config import FusionConfig


def normalise(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows; all-zero rows (an item without interests) stay zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def fuse(text: np.ndarray, config: FusionConfig, *, interests: np.ndarray | None = None,
         collab: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Weighted concatenation [t, w_i * i, w_c * c] of normalised vectors (the parts given), or its learned projection.

    `collab`: collaborative item vectors (a sequential model's item embeddings), weighted by `collab_weight`.
    """
    parts = [normalise(text)]
    if interests is not None:
        parts.append(config.interest_weight * normalise(interests))
    if collab is not None:
        parts.append(config.collab_weight * normalise(collab))
    joined = np.concatenate(parts, axis=1)
    if config.method == "concat":
        return joined.astype(np.float32)
    return learned_projection(joined, config.projection_dim, config.projection_steps, seed=seed)


def learned_projection(vectors: np.ndarray, dim: int, steps: int, *, seed: int = 0) -> np.ndarray:
    """A linear autoencoder to `dim` dimensions trained on the items: a learned, lossy fusion.

    It mixes text and interest features into one space of the size the quantizer expects, keeping
    the directions that explain the most variation across items.
    """
    torch.manual_seed(seed)
    x = torch.as_tensor(vectors, dtype=torch.float32)
    encoder, decoder = torch.nn.Linear(x.shape[1], dim), torch.nn.Linear(dim, x.shape[1])
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(decoder(encoder(x)), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return encoder(x).numpy().astype(np.float32)
