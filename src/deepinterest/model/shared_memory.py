"""Cross-attention in which the beams of one example share its encoder memory, without copies.

In encoder-decoder beam search every beam of an example attends to the same encoder states. HF
models expect keys and values with one row per beam, which means copying the cross-attention cache
beams-fold and reordering it after every step: most of the search's time on a small model. Here
the cache keeps one row per example and an attention function (registered through transformers'
`AttentionInterface`, the library's extension point) treats the beams as that row's queries.
Outputs equal the copied version (checked in tests/test_constrained_search.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "deepinterest_shared_memory"


def shared_memory_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, position_bias=None,
                            **kwargs):
    """SDPA; where keys have fewer rows than queries (beams x examples), the beams become query positions."""
    if key.shape[0] == query.shape[0]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      position_bias=position_bias, **kwargs)
    examples, heads, _, width = key.shape
    beams = query.shape[0] // examples
    queries = query.reshape(examples, beams, heads, width).transpose(1, 2)  # one decoder step per beam
    bias = position_bias
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            attention_mask = torch.zeros(attention_mask.shape, dtype=query.dtype, device=query.device).masked_fill(
                ~attention_mask, float("-inf"))
        bias = attention_mask if bias is None else bias + attention_mask
    out = torch.nn.functional.scaled_dot_product_attention(queries, key, value, attn_mask=bias,
                                                           scale=1.0 if scaling is None else scaling)
    return out.transpose(1, 2).reshape(examples * beams, 1, heads, width), None


AttentionInterface.register(NAME, shared_memory_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)


@contextmanager
def beams_share_memory(model) -> Iterator[None]:
    """Run `model` with the shared-memory attention, then restore its own implementation."""
    previous = model.config._attn_implementation
    model.set_attn_implementation(NAME)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)
