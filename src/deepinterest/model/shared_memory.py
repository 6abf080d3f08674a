"""Attention in which the beams of one example share its memory, without copies.

In beam search every beam of an example attends to the same states: the encoder's (encoder-decoder)
or the prompt's KV cache (decoder-only). HF models expect keys and values with one row per beam,
which means copying that memory beams-fold and reordering it after every step (for a decoder-only
model, concatenating the whole cache again at every step as well): most of the search's time on a
small model. Here the memory keeps one row per example and an attention function (registered
through transformers' `AttentionInterface`, the library's extension point) treats the beams as that
row's queries. Outputs equal the copied version (checked in tests/test_constrained_search.py and
tests/test_sid_decoder.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "deepinterest_shared_memory"
PREFIX_NAME = "deepinterest_shared_prefix"
# The prompt's keys and values per layer (one row per example), its padding mask, and the beams per example.
_PREFIX: ContextVar[tuple | None] = ContextVar("shared_prefix", default=None)


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


def shared_prefix_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """One new token per beam attends to its example's prompt (shared) and to the beam's own tokens.

    `key`/`value` hold only the tokens generated so far (one row per beam); the prompt's come from
    `beams_share_prefix`. One softmax over both parts: the same weights as attention over the
    concatenated cache.
    """
    state = _PREFIX.get()
    if state is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    keys, values, padding, beams = state
    groups = query.shape[1] // key.shape[1]
    prefix_k, prefix_v = repeat_kv(keys[module.layer_idx], groups), repeat_kv(values[module.layer_idx], groups)
    own_k, own_v = repeat_kv(key, groups), repeat_kv(value, groups)
    examples, heads, _, width = prefix_k.shape
    scale = width ** -0.5 if scaling is None else scaling
    q = query.reshape(examples, beams, heads, width).transpose(1, 2)  # (E, H, B, D): the beams as queries
    on_prefix = (q @ prefix_k.transpose(-1, -2)).float() * scale  # (E, H, B, P)
    on_prefix = on_prefix.masked_fill(~padding[:, None, None, :], float("-inf"))
    own_k = own_k.reshape(examples, beams, heads, -1, width).transpose(1, 2)  # (E, H, B, T, D)
    own_v = own_v.reshape(examples, beams, heads, -1, width).transpose(1, 2)
    on_own = (q[..., None, :] * own_k).sum(-1).float() * scale  # (E, H, B, T)
    weights = torch.softmax(torch.cat([on_prefix, on_own], -1), -1).to(query.dtype)
    split = on_prefix.shape[-1]
    out = weights[..., :split] @ prefix_v + (weights[..., split:, None] * own_v).sum(-2)  # (E, H, B, D)
    return out.transpose(1, 2).reshape(examples * beams, 1, heads, width), None


AttentionInterface.register(NAME, shared_memory_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)
AttentionInterface.register(PREFIX_NAME, shared_prefix_attention)
AttentionMaskInterface.register(PREFIX_NAME, sdpa_mask)


@contextmanager
def _attention(model, name: str) -> Iterator[None]:
    previous = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def beams_share_memory(model):
    """Run `model` with the shared-memory attention, then restore its own implementation."""
    return _attention(model, NAME)


@contextmanager
def beams_share_prefix(model, prompt_cache, prompt_mask: torch.Tensor, beams: int) -> Iterator[None]:
    """Run one-token steps of `beams` beams per example against the prompt's cache (one row per example).

    The steps' own cache holds only the generated tokens; `prompt_mask` (examples x prompt length) marks
    real prompt tokens.
    """
    layers = prompt_cache.layers
    token = _PREFIX.set(([layer.keys for layer in layers], [layer.values for layer in layers], prompt_mask.bool(), beams))
    try:
        with _attention(model, PREFIX_NAME):
            yield
    finally:
        _PREFIX.reset(token)
