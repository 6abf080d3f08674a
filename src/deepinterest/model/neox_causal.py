"""GPT-NeoX's forward for right-padded sequences, on the model's own weights, in fewer operations.

The `items` backbone trains in steps of about 150 positions, where each PyTorch operation costs more
to dispatch than to compute. transformers' `GPTNeoXModel.forward` builds a 4-D mask, recomputes the
rotary tables and rotates query and key apart (slices, a negation and a cat each) on every call. For
right-padded sequences the mask is not needed: causal attention alone keeps every real position from its
pads (they come after it), and positions 0..T-1 are each row's own. This forward runs the same modules
(`input_layernorm`, `query_key_value`, `dense`, `mlp`, the dropout modules, `final_layer_norm`) in the same
order, with the rotary tables computed once and one roll rotating query and key together, so it returns the
library's numbers bit for bit at every real position and, in training, draws the same dropout masks
(tests/test_item_decoder.py checks both: kept rows reproduce). A training step gets about 4% cheaper
(`benchmarks/items_step_variants.py`, variant `library_body`: the library costs 1.038x of the epoch).
Left-padded or gapped masks go to the library.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import GPTNeoXModel


class RightPaddedNeoX:
    """Calls a `GPTNeoXModel` (no cache, `use_parallel_residual=False`, full rotary) on right-padded inputs."""

    def __init__(self, body: GPTNeoXModel):
        config = body.config
        if config.use_parallel_residual or config.rope_parameters.get("partial_rotary_factor", 1.0) != 1.0:
            raise ValueError("RightPaddedNeoX serves sequential residuals and full rotary embeddings only")
        self.body, self.heads = body, config.num_attention_heads
        self.head_size = config.hidden_size // self.heads
        positions = torch.arange(config.max_position_embeddings, dtype=torch.float)
        angles = positions[:, None] * body.rotary_emb.inv_freq.float().cpu()[None]
        angles = torch.cat((angles, angles), -1)  # the library's layout: the same angle for x_i and x_{i + d/2}
        # rotate_half(x) * sin = roll(x, d/2) * (-sin, sin): one roll instead of two slices, a negation and a cat
        half = self.head_size // 2
        self.cos, self.sin = angles.cos(), torch.cat((-angles[:, :half].sin(), angles[:, half:].sin()), -1)

    def __call__(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, T, d) states after each position; the library's own forward unless the mask is right-padded."""
        if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()) or inputs.shape[1] > len(self.cos):
            return self.library(inputs, attention_mask)
        if self.cos.device != inputs.device:  # moved once with the model, not copied every call
            self.cos, self.sin = self.cos.to(inputs.device), self.sin.to(inputs.device)
        body, batch, length, width = self.body, *inputs.shape
        cos, sin = (t[:length, None].to(inputs.dtype) for t in (self.cos, self.sin))  # (T, q/k, d)
        hidden = body.emb_dropout(inputs)
        for layer in body.layers:
            qkv = layer.attention.query_key_value(layer.input_layernorm(hidden))
            qkv = qkv.view(batch, length, self.heads, 3 * self.head_size).transpose(1, 2)
            # query and key sit side by side in each head's row: one rotation serves both
            pair = qkv[..., :2 * self.head_size].unflatten(-1, (2, self.head_size))
            rotated = pair * cos + pair.roll(self.head_size // 2, -1) * sin
            query, key, value = rotated[..., 0, :], rotated[..., 1, :], qkv[..., 2 * self.head_size:]
            dropout = layer.attention.attention_dropout if body.training else 0.0
            attended = F.scaled_dot_product_attention(query, key, value,
                                                      dropout_p=dropout, is_causal=True, scale=layer.attention.scaling)
            attended = layer.attention.dense(attended.transpose(1, 2).reshape(batch, length, width))
            hidden = layer.post_attention_dropout(attended) + hidden
            hidden = layer.post_mlp_dropout(layer.mlp(layer.post_attention_layernorm(hidden))) + hidden
        return body.final_layer_norm(hidden)

    def library(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """transformers' own forward (any padding; positions count each row's real items)."""
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return self.body(inputs_embeds=inputs, attention_mask=attention_mask, position_ids=positions).last_hidden_state
