"""Batches of similar length, for trainers that read whole sequences (SASRec, the decoder backbone)."""

from __future__ import annotations

import torch


def length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator,
                            pool: int = 50, *, by_targets: bool = True) -> list[torch.Tensor]:
    """Random batches of similar length, in a random order.

    Padding every batch to the longest sequence wastes most of the work (most sequences are short),
    so sequences of similar length go together (sorted within shuffled pools of `pool` batches).
    `by_targets`: each batch is cut at a fixed budget of targets (lengths) rather than of sequences,
    so every optimiser step sees about as many targets as `batch_size` random sequences would;
    otherwise every batch holds `batch_size` sequences (the batch count is then fixed).
    """
    order = torch.randperm(len(lengths), generator=generator)
    targets = lengths.clamp(min=1)
    budget = float(targets.float().mean()) * batch_size
    batches = []
    for chunk in order.split(batch_size * pool):
        chunk = chunk[torch.sort(lengths[chunk], stable=True).indices]
        if not by_targets:
            batches += chunk.split(batch_size)
            continue
        ends = torch.cumsum(targets[chunk].float(), 0)
        cuts = torch.searchsorted(ends, torch.arange(1, int(ends[-1] // budget) + 2) * budget, right=True)
        start = 0
        for cut in [*cuts.tolist(), len(chunk)]:
            cut = min(max(cut, start + 1), len(chunk))
            if cut > start:
                batches.append(chunk[start:cut])
            start = cut
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]
