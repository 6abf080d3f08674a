"""SASRec (Kang & McAuley, 2018): causal self-attention over a user's item sequence.

Item index i is stored at embedding row i + 1; row 0 is padding. Sequences are left-padded so the
last position always holds the most recent item.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deepinterest.config import SASRecConfig


class SASRec(nn.Module):
    def __init__(self, n_items: int, config: SASRecConfig):
        super().__init__()
        self.n_items, self.max_len, self.heads = n_items, config.max_len, config.heads
        self.item_embedding = nn.Embedding(n_items + 1, config.hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_len, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden, nhead=config.heads, dim_feedforward=config.hidden,
            dropout=config.dropout, activation="relu", batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(config.hidden)
        self.scale = math.sqrt(config.hidden)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (batch x width) embedding rows (0 = pad), left-padded, width <= max_len.

        A batch may be narrower than max_len (only as wide as its longest sequence): positions are
        counted from the right, so the result equals that of the same batch padded to max_len.
        """
        batch, length = tokens.shape
        valid = tokens > 0
        positions = torch.arange(length, device=tokens.device)
        absolute = positions + (self.max_len - length)
        x = self.item_embedding(tokens) * self.scale + self.position_embedding(absolute)
        x = self.dropout(x) * valid.unsqueeze(-1)
        # Causal attention over real items; a position may always see itself, so no row is empty.
        causal = positions[None, :] <= positions[:, None]
        allowed = causal[None] & (valid[:, None, :] | torch.eye(length, dtype=torch.bool, device=tokens.device)[None])
        mask = (~allowed).repeat_interleave(self.heads, dim=0)
        return self.final_norm(self.encoder(x, mask=mask))

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every catalog item (columns are item indices) for hidden states (... x d)."""
        return hidden @ self.item_embedding.weight[1:].T

    def encode_histories(self, histories: list[list[int]]) -> torch.Tensor:
        """Left-pad histories (item indices) to the longest one (at most max_len) as embedding rows."""
        device = self.item_embedding.weight.device
        width = max(1, min(self.max_len, max(len(h) for h in histories)))
        tokens = torch.zeros(len(histories), width, dtype=torch.long)
        for row, history in enumerate(histories):
            recent = history[-width:]
            if recent:
                tokens[row, width - len(recent):] = torch.as_tensor(recent) + 1
        return tokens.to(device)

    @torch.no_grad()
    def score(self, users, histories: list[list[int]]) -> torch.Tensor:
        was_training = self.training
        self.eval()
        hidden = self(self.encode_histories(histories))[:, -1]
        self.train(was_training)
        return self.item_logits(hidden)
