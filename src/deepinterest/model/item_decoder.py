"""The `items` backbone: one transformer position per item, the next item's SID from a small per-level head.

The `decoder` backbone reads every SID token of every item (about 3.6 positions an item) and
generates the next SID token by token through the whole transformer. Here the transformer reads
one position per item, as SASRec does: the item's input is the sum of its history block's token
embeddings (its SID codes, and its interest codes or own id token where they ride). The hidden state
h of the last item then factorizes the next item's SID level by level,

    p(c1 | h) p(c2 | h, c1) p(c3 | h, c1, c2),

each level a small MLP over h plus the embeddings of the codes chosen so far, its output scored
against the same code embeddings the inputs use (tied, as SASRec ties its item embeddings), over that
level's own tokens only (a softmax over the whole vocabulary would spend most of an epoch scoring the
other levels' codes). Ranking is the trie beam search of model/constrained.py over the head alone: one
body pass per user, no KV cache, and each beam step costs an MLP instead of a transformer pass. Scores
are the exact log-probabilities the training loss teaches.

The body is `transformers`' GPT-NeoX (rotary positions) fed `inputs_embeds`, called through
model/neox_causal.py: the same weights and numbers, fewer operations a step for right-padded windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import GPTNeoXConfig, GPTNeoXModel

from deepinterest.config import SFTConfig
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.model.neox_causal import RightPaddedNeoX
from deepinterest.model.scores import soft_mixed_nll

IGNORE = -100


@dataclass
class ItemOutput:
    loss: torch.Tensor


class ItemSIDDecoder(nn.Module):
    """A causal transformer over item positions and a per-level SID head (see the module's docstring)."""

    is_item_level = True

    def __init__(self, vocab: SIDVocabulary, config: SFTConfig):
        super().__init__()
        n, d = vocab.catalog.n_items, config.d_model
        self.pad_item, self.depth = n, vocab.catalog.max_length
        self.teacher_weight = config.teacher_weight if config.teacher else 0.0
        catalog = vocab.catalog  # each depth's tokens: [start, start + width) of the vocabulary
        self.level_start = [vocab.offset + catalog.token_offset(d) for d in range(self.depth)]
        self.level_width = [catalog.codebook_size if d < catalog.levels else catalog.suffix_size for d in range(self.depth)]
        blocks = [vocab.item_block(item) for item in range(n)]
        table = torch.full((n + 1, max(map(len, blocks))), vocab.pad, dtype=torch.long)  # row n: the pad item
        for item, block in enumerate(blocks):
            table[item, :len(block)] = torch.as_tensor(block)
        self.register_buffer("blocks", table, persistent=False)
        self.embed = nn.Embedding(vocab.size, d, padding_idx=vocab.pad)
        # The codes chosen so far, as the head reads them: SID tokens only (item-id and interest rows would
        # never be read, yet cost the optimizer a quarter of the model's weights every step).
        self.chosen = nn.Embedding(self.level_start[-1] + self.level_width[-1], d)
        neox = GPTNeoXConfig(vocab_size=1, hidden_size=d, num_hidden_layers=config.layers, num_attention_heads=config.heads,
                             intermediate_size=config.d_ff, hidden_act="gelu", hidden_dropout=config.dropout,
                             attention_dropout=config.dropout, max_position_embeddings=config.max_items + 1,
                             rope_parameters={"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 1.0},
                             use_parallel_residual=False, bos_token_id=None, eos_token_id=None, pad_token_id=None)
        self.body = GPTNeoXModel(neox)
        self.body.embed_in = None  # inputs come as embeddings: no unused weights (DDP would wait for their gradients)
        self.config = neox
        self.run_body = RightPaddedNeoX(self.body)
        self.head = nn.ModuleList(nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Dropout(config.dropout),
                                                nn.Linear(d, d)) for _ in range(self.depth))

    def hidden(self, items: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, items, d): the state after each item of right-padded item sequences (pad: `pad_item`)."""
        return self.run_body(self.embed(self.blocks[items]).sum(2), attention_mask)

    def last_hidden(self, items: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, d): the state after each sequence's last item."""
        last = (attention_mask.sum(-1) - 1).clamp(min=0)
        return self.hidden(items, attention_mask)[torch.arange(items.shape[0], device=items.device), last]

    def code_tables(self) -> list[torch.Tensor]:
        """Each depth's token embeddings, split off the table at once: slicing it per depth made the backward
        pass zero-fill a whole-vocabulary gradient per depth (18% of a profiled training step on one CPU thread)."""
        start, end = self.level_start[0], self.level_start[-1] + self.level_width[-1]
        parts = self.embed.weight.split([start, *self.level_width, self.embed.num_embeddings - end])
        return list(parts[1:-1])

    def level_logits(self, state: torch.Tensor, depth: int, tables: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of `depth`'s tokens (column j: token level_start[depth] + j), from h plus the chosen codes' embeddings."""
        table = (tables or self.code_tables())[depth]
        return self.head[depth](state) @ table.T

    def level_index(self, tokens: torch.Tensor, depth: int) -> torch.Tensor:
        """Vocabulary tokens as columns of `level_logits` at `depth`; -1 where a token is not of that depth."""
        column = tokens - self.level_start[depth]
        return torch.where((column >= 0) & (column < self.level_width[depth]), column, -1)

    def sid_logprobs(self, items: torch.Tensor, attention_mask: torch.Tensor, tokens: torch.Tensor,
                     group: int = 1) -> torch.Tensor:
        """log p of each token of `group` candidate SIDs per history given the tokens before it, (N * group, L)."""
        state = self.last_hidden(items, attention_mask).repeat_interleave(group, 0)
        out, tables = [], self.code_tables()
        for depth in range(tokens.shape[1]):
            column = self.level_index(tokens[:, depth, None], depth).clamp(min=0)  # pads: the caller masks them
            out.append(torch.log_softmax(self.level_logits(state, depth, tables).float(), dim=-1).gather(-1, column))
            state = state + self.chosen(tokens[:, depth])
        return torch.cat(out, 1)

    def next_logits(self, items: torch.Tensor, attention_mask: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """Logits of the level after `prefix` (the tokens chosen so far, one row per history), as `level_logits`."""
        return self.level_logits(self.last_hidden(items, attention_mask) + self.chosen(prefix).sum(1), prefix.shape[1])

    def forward(self, items: torch.Tensor, attention_mask: torch.Tensor, targets: torch.Tensor,
                soft_index: torch.Tensor | None = None, soft_prob: torch.Tensor | None = None) -> ItemOutput:
        """Mean cross-entropy over the labelled SID tokens. `targets` (batch, items, depth): the next item's SID
        tokens after each position (IGNORE where no loss); with soft targets (the teacher's, per token,
        training/distill.py) the loss is (1 - w) * the true token's + w * the soft target's."""
        learned = targets[..., 0] != IGNORE  # positions whose next item carries loss
        state, targets = self.hidden(items, attention_mask)[learned], targets[learned]
        if soft_index is not None:
            soft_index, soft_prob = soft_index[learned], soft_prob[learned]
        total = torch.zeros((), device=items.device)
        count = torch.zeros((), device=items.device)
        tables = self.code_tables()
        for depth in range(self.depth):
            true = targets[:, depth]
            labelled = true != IGNORE
            logprobs = torch.log_softmax(self.level_logits(state, depth, tables).float(), dim=-1)
            column = self.level_index(true, depth).clamp(min=0)
            if soft_index is not None and self.teacher_weight > 0:
                index = self.level_index(soft_index[:, depth], depth)
                prob = soft_prob[:, depth] * (index >= 0)  # a zero-mass filler may name another level's token
                own = soft_mixed_nll(logprobs, column, index.clamp(min=0), prob, self.teacher_weight)
            else:
                own = -logprobs.gather(-1, column[:, None])[:, 0]
            total, count = total + (own * labelled).sum(), count + labelled.sum()
            state = state + self.chosen(true.clamp(min=0)) * labelled[:, None]
        return ItemOutput(loss=total / count.clamp(min=1))


def build_item_decoder(vocab: SIDVocabulary, config: SFTConfig) -> ItemSIDDecoder:
    return ItemSIDDecoder(vocab, config)
