"""Whole-catalog item scores (rows: histories, columns: items), shared by the rankers and the SFT teacher."""

from __future__ import annotations

import torch


def mask_history(scores: torch.Tensor, histories: list[list[int]], keep: torch.Tensor | None = None) -> torch.Tensor:
    """`scores` with every item of each row's history at -inf, in place; `keep` (one item a row) keeps its score."""
    kept = scores[torch.arange(len(histories)), keep] if keep is not None else None
    rows = [r for r, h in enumerate(histories) for _ in h]
    cols = [i for h in histories for i in h]
    scores[rows, cols] = -torch.inf
    if keep is not None:
        scores[torch.arange(len(histories)), keep] = kept
    return scores
