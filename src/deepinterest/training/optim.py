"""The Adam optimizers the trainers share, with torch's fused kernel where the device has one."""

from __future__ import annotations

from collections.abc import Iterable

import torch

FUSED_DEVICES = {"cpu", "cuda"}


def _trainable(parameters: Iterable[torch.nn.Parameter]) -> tuple[list[torch.nn.Parameter], bool]:
    """The parameters that learn (LoRA's frozen base stays out), and whether one fused kernel can step them all."""
    trainable = [p for p in parameters if p.requires_grad]
    return trainable, all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in trainable)


def adamw(parameters: Iterable[torch.nn.Parameter], **options) -> torch.optim.AdamW:
    """AdamW stepping all tensors in one fused kernel instead of a Python loop over them: on one CPU thread
    the loop was a fifth of an `items` epoch (benchmarks/sft_speed.py)."""
    trainable, fused = _trainable(parameters)
    return torch.optim.AdamW(trainable, fused=fused or None, **options)


def adam(parameters: Iterable[torch.nn.Parameter], **options) -> torch.optim.Adam:
    """Adam (L2 weight decay, as SASRec's recipe has it), fused as `adamw`."""
    trainable, fused = _trainable(parameters)
    return torch.optim.Adam(trainable, fused=fused or None, **options)
