"""Trie-constrained beam search over Semantic IDs: every output is a catalog item.

The allowed next tokens come from the catalog's dense per-depth tables (one gather per step for all
beams; no per-beam Python loop). Generation settings are explicit (no sampling, no top-k/top-p
inherited from a checkpoint's generation config). Beams that reach an item are finished and keep
their score; a beam with no allowed token left is dropped (score -inf), never decoded freely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepinterest.tokenizer.catalog import SIDCatalog

NEG_INF = float("-inf")


@dataclass
class SIDVocabulary:
    """Model token ids: 0 = pad (also the decoder start), 1 = end of sequence, then the SID tokens."""

    catalog: SIDCatalog
    pad: int = 0
    eos: int = 1
    offset: int = 2

    @property
    def size(self) -> int:
        return self.offset + self.catalog.vocab_size

    def item_tokens(self, item: int) -> list[int]:
        return [self.offset + t for t in self.catalog.tokens(item)]

    def history_tokens(self, history: list[int], max_items: int) -> list[int]:
        return [t for item in history[-max_items:] for t in self.item_tokens(item)]


class ConstrainedBeamSearch:
    def __init__(self, vocab: SIDVocabulary, device: torch.device | str = "cpu"):
        self.vocab = vocab
        tables = vocab.catalog.tensors(device)
        self.next, self.leaf = tables["next"], tables["leaf"]
        self.depths = len(self.next)

    @torch.no_grad()
    def search(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top `beams` items per example, best first, as (items, scores); -1 pads rare short lists."""
        batch = input_ids.shape[0]
        device = input_ids.device
        encoder = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
        memory = encoder.last_hidden_state.repeat_interleave(beams, dim=0)
        memory_mask = attention_mask.repeat_interleave(beams, dim=0)
        # Start with one live beam per example (the others at -inf so they are never chosen twice).
        scores = torch.full((batch, beams), NEG_INF, device=device)
        scores[:, 0] = 0.0
        node = torch.zeros(batch * beams, dtype=torch.long, device=device)
        finished_item = torch.full((batch * beams,), -1, dtype=torch.long, device=device)
        decoder_input = torch.full((batch * beams, 1), self.vocab.pad, dtype=torch.long, device=device)
        past = None
        expand = torch.arange(batch, device=device).repeat_interleave(beams)
        for depth in range(self.depths):
            if depth == 0:
                # One row per example, not per beam: the cross-attention keys and values (the bulk of the
                # work) are projected once per example and then copied into the beams' cache.
                out = model(encoder_outputs=(encoder.last_hidden_state,), attention_mask=attention_mask,
                            decoder_input_ids=decoder_input[::beams, -1:], use_cache=True)
                past = out.past_key_values
                past.reorder_cache(expand)
                logits = out.logits[:, -1].repeat_interleave(beams, dim=0)
            else:
                out = model(encoder_outputs=(memory,), attention_mask=memory_mask, decoder_input_ids=decoder_input[:, -1:],
                            past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[:, -1]
            table = self.next[depth]
            width = table.shape[1]
            start = self.vocab.offset + self.vocab.catalog.token_offset(depth)
            logprobs = torch.log_softmax(logits.float(), dim=-1)[:, start:start + width]
            done = finished_item >= 0
            alive = scores.view(-1) > NEG_INF
            child = torch.where((done | ~alive)[:, None], -1, table[node.clamp(min=0, max=table.shape[0] - 1)])
            step = logprobs.masked_fill(child < 0, NEG_INF)
            # A finished beam continues with exactly one option that adds nothing: "stay".
            stay = torch.where(done & alive, 0.0, NEG_INF)[:, None]
            candidates = torch.cat([step, stay], dim=1)  # (batch*beams) x (width + 1)
            total = (scores.view(-1, 1) + candidates).view(batch, -1)
            scores, flat = total.topk(beams, dim=1)
            origin = flat // (width + 1)
            choice = flat % (width + 1)
            rows = (origin + torch.arange(batch, device=device)[:, None] * beams).view(-1)
            choice = choice.view(-1)
            stayed = choice == width
            node = torch.where(stayed, node[rows], child[rows, choice.clamp(max=width - 1)])
            finished_item = finished_item[rows]
            reached = ~stayed & (node >= 0)
            leaf_table = self.leaf[depth + 1]
            ends = torch.where(reached, leaf_table[node.clamp(min=0, max=leaf_table.shape[0] - 1)], -1)
            finished_item = torch.where(ends >= 0, ends, finished_item)
            token = torch.where(stayed, self.vocab.eos, start + choice.clamp(max=width - 1))
            decoder_input = torch.cat([decoder_input[rows], token[:, None]], dim=1)
            past.reorder_cache(rows)
            if bool((finished_item >= 0).view(batch, beams)[scores > NEG_INF].all()):
                break
        items = torch.where(scores.view(-1) > NEG_INF, finished_item, -1).view(batch, beams)
        return items, scores
