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


def soft_mixed_nll(logprobs: torch.Tensor, true: torch.Tensor, soft_index: torch.Tensor, soft_prob: torch.Tensor,
                   weight: float) -> torch.Tensor:
    """Per row: (1 - weight) * -log p(true) + weight * cross-entropy on the soft target (its `soft_index` tokens
    with `soft_prob`; a row whose soft probabilities are all zero has none and keeps its true token there too).
    `true` and `soft_index` index the last dimension of `logprobs` and must be valid indices."""
    own = -logprobs.gather(-1, true[..., None])[..., 0]
    soft = torch.where(soft_prob.sum(-1) > 0, -(logprobs.gather(-1, soft_index) * soft_prob).sum(-1), own)
    return (1 - weight) * own + weight * soft
