"""Trie-constrained beam search over Semantic IDs: every output is a catalog item.

Two model shapes share one per-step trie logic (`_TrieBeams`): encoder-decoder (TIGER) and
decoder-only (a pretrained causal LM with the SID tokens added). The allowed next tokens come from
the catalog's dense per-depth tables (one gather per step for all beams; no per-beam Python loop).
Generation settings are explicit (no sampling, no top-k/top-p inherited from a checkpoint's
generation config). Beams that reach an item are finished and keep
their score; a beam with no allowed token left is dropped (score -inf), never decoded freely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache

from deepinterest.model.shared_memory import beams_share_memory, beams_share_prefix
from deepinterest.tokenizer.catalog import SIDCatalog

NEG_INF = float("-inf")


@dataclass
class SIDVocabulary:
    """Model token ids of the SIDs, and of the text around a history.

    TIGER: 0 = pad (also the decoder start), 1 = end of sequence, then the SID tokens. A causal LM:
    its tokenizer's pad and eos, the SID tokens contiguous from `offset`, and a text prompt
    (`prefix` + history SIDs + `suffix`).
    """

    catalog: SIDCatalog
    pad: int = 0
    eos: int = 1
    offset: int = 2
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    item_ids: str = "none"  # the decoder's per-item tokens in histories: none, append or replace (sft.item_ids)

    @property
    def token_end(self) -> int:
        """One past the SID tokens (and whatever a subclass adds after them); item-id tokens follow."""
        return self.offset + self.catalog.vocab_size

    @property
    def size(self) -> int:
        return self.token_end + (self.catalog.n_items if self.item_ids != "none" else 0)

    def item_tokens(self, item: int) -> list[int]:
        return [self.offset + t for t in self.catalog.tokens(item)]

    def item_sid_in_history(self, item: int) -> list[int]:
        """The item's SID as a history shows it: with its own token after it, or in place of the last code.
        Generated SIDs never carry it, so the model learns it only as input."""
        sid = self.item_tokens(item)
        if self.item_ids == "append":
            return [*sid, self.token_end + item]
        if self.item_ids == "replace":
            return [*sid[:-1], self.token_end + item]
        return sid

    def item_block(self, item: int) -> list[int]:
        """What stands for the item in a history: its SID (and, for some vocabularies, more after it)."""
        return self.item_sid_in_history(item)

    def history_tokens(self, history: list[int], max_items: int) -> list[int]:
        return [*self.prefix, *(t for item in history[-max_items:] for t in self.item_block(item)), *self.suffix]


class _TrieBeams:
    """The beams of a batch of searches: scores, trie nodes and finished items, all tensors.

    Beams that reach an item are finished and keep their score; a beam with no allowed token left
    is dropped (score -inf), never decoded freely.
    """

    def __init__(self, search: TrieSearch, batch: int, beams: int, device: torch.device):
        self.search, self.batch, self.beams = search, batch, beams
        # One live beam per example to start (the others at -inf so they are never chosen twice).
        self.scores = torch.full((batch, beams), NEG_INF, device=device)
        self.scores[:, 0] = 0.0
        self.node = torch.zeros(batch * beams, dtype=torch.long, device=device)
        self.item = torch.full((batch * beams,), -1, dtype=torch.long, device=device)
        self.first_row = torch.arange(batch, device=device)[:, None] * beams

    def step(self, logits: torch.Tensor, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Extend every beam by one token of `depth`; returns the beam each new beam comes from, and its token."""
        vocab, table = self.search.vocab, self.search.next[depth]
        width = table.shape[1]
        start = vocab.offset + vocab.catalog.token_offset(depth)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        if not self.search.logits_per_level:  # the whole vocabulary's logits: keep this depth's tokens
            logprobs = logprobs[:, start:start + width]
        done = self.item >= 0
        alive = self.scores.view(-1) > NEG_INF
        child = torch.where((done | ~alive)[:, None], -1, table[self.node.clamp(min=0, max=table.shape[0] - 1)])
        step = logprobs.masked_fill(child < 0, NEG_INF)
        # A finished beam continues with exactly one option that adds nothing: "stay".
        stay = torch.where(done & alive, 0.0, NEG_INF)[:, None]
        total = (self.scores.view(-1, 1) + torch.cat([step, stay], dim=1)).view(self.batch, -1)
        self.scores, flat = total.topk(self.beams, dim=1)
        rows = (flat // (width + 1) + self.first_row).view(-1)
        choice = (flat % (width + 1)).view(-1)
        stayed = choice == width
        self.node = torch.where(stayed, self.node[rows], child[rows, choice.clamp(max=width - 1)])
        leaf = self.search.leaf[depth + 1]
        ends = torch.where(~stayed & (self.node >= 0), leaf[self.node.clamp(min=0, max=leaf.shape[0] - 1)], -1)
        self.item = torch.where(ends >= 0, ends, self.item[rows])
        return rows, torch.where(stayed, vocab.eos, start + choice.clamp(max=width - 1))

    @property
    def finished(self) -> bool:
        return bool((self.item >= 0).view(self.batch, self.beams)[self.scores > NEG_INF].all())

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.where(self.scores.view(-1) > NEG_INF, self.item, -1).view(self.batch, self.beams)
        return items, self.scores


class TrieSearch:
    """What both model shapes share: the trie tensors, prompt padding and the beam loop."""

    left_pad = False
    logits_per_level = False  # whether the model's logits at a depth cover that depth's tokens only

    def __init__(self, vocab: SIDVocabulary, device: torch.device | str = "cpu"):
        self.vocab = vocab
        tables = vocab.catalog.tensors(device)
        self.next, self.leaf = tables["next"], tables["leaf"]
        self.depths = len(self.next)
        self.device = torch.device(device)

    @property
    def pad_value(self) -> int:
        """What fills a prompt's padding: the pad token (the item-level search pads with a pad item)."""
        return self.vocab.pad

    def pad(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts as one padded batch (left-padded for decoder-only models) and its attention mask."""
        width = max(1, max(map(len, prompts)))  # an empty prompt still gets one (masked) position
        input_ids = torch.full((len(prompts), width), self.pad_value, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            span = slice(width - len(prompt), width) if self.left_pad else slice(0, len(prompt))
            input_ids[row, span], mask[row, span] = torch.as_tensor(prompt, dtype=torch.long), 1
        return input_ids.to(self.device), mask.to(self.device)

    def rank(self, model, prompts: list[list[int]], beams: int, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """`search` over prompts of similar length at a time (at most `chunk` a search), results in the prompts' order.

        Most histories are short and a few are long: padding every prompt to the batch's longest would
        spend most of the prefill, and of the attention at every step, on pads.
        """
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        parts = [self.search(model, *self.pad([prompts[i] for i in group]), beams)
                 for group in length_groups(order, [len(p) for p in prompts], chunk)]
        items, scores = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        back = torch.empty(len(order), dtype=torch.long, device=items.device)
        back[torch.as_tensor(order, device=items.device)] = torch.arange(len(order), device=items.device)
        return items[back], scores[back]

    def search(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def prompt(self, history: list[int], max_items: int) -> list[int]:
        """What the model reads of a history (item indices): its tokens."""
        return self.vocab.history_tokens(history, max_items)

    def _walk(self, first_logits: torch.Tensor, past, beams: int, advance) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam search from the depth-0 logits of each example (one row each) and its KV cache.

        `advance(token, depth)` feeds every beam its last token and returns the next logits; the
        cache is expanded to the beams once, then reordered after each step (`_reorder`: index_select,
        no copies per beam in Python).
        """
        state = _TrieBeams(self, first_logits.shape[0], beams, first_logits.device)
        expand = torch.arange(first_logits.shape[0], device=first_logits.device).repeat_interleave(beams)
        self._reorder(past, expand)
        logits, token = first_logits[expand], None
        for depth in range(self.depths):
            if depth:
                logits = advance(token, depth)
            rows, token = state.step(logits, depth)
            if state.finished or depth == self.depths - 1:
                break
            self._reorder(past, rows)
        return state.result()

    @staticmethod
    def _reorder(past, rows: torch.Tensor) -> None:
        past.reorder_cache(rows)


class ConstrainedBeamSearch(TrieSearch):
    """Encoder-decoder models: the history is encoded once, the decoder generates the SID.

    The cross-attention cache keeps one row per example (`beams_share_memory`): the beams of an
    example attend to its encoder states without copies, and only the self-attention cache moves.
    """

    @staticmethod
    def _reorder(past, rows: torch.Tensor) -> None:
        past.self_attention_cache.reorder_cache(rows)

    @torch.no_grad()
    def search(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top `beams` items per example, best first, as (items, scores); -1 pads rare short lists."""
        with beams_share_memory(model):
            memory = (model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,)
            start = torch.full((input_ids.shape[0], 1), self.vocab.pad, dtype=torch.long, device=input_ids.device)
            out = model(encoder_outputs=memory, attention_mask=attention_mask, decoder_input_ids=start, use_cache=True)

            def advance(token: torch.Tensor, depth: int) -> torch.Tensor:
                return model(encoder_outputs=memory, attention_mask=attention_mask, decoder_input_ids=token[:, None],
                             cache=out.cache, use_cache=True).logits[:, -1]

            return self._walk(out.logits[:, -1], out.cache, beams, advance)


class DecoderOnlyBeamSearch(TrieSearch):
    """Causal LMs: one prefill per (left-padded) prompt; the beams share its KV cache.

    After the prefill, each step feeds one token per beam against the prompt's cache, one row per
    example (`beams_share_prefix`), and a cache of the beam's own few tokens: nothing of the prompt is
    copied per beam or per step. Settings are explicit (greedy scoring, no sampling): nothing comes
    from the checkpoint's generation config, which for instruct models turns on sampling.
    """

    left_pad = True

    @torch.no_grad()
    def search(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top `beams` items per left-padded prompt, best first, as (items, scores); -1 pads short lists."""
        # Positions count real tokens only, so a left-padded prompt scores as it would alone.
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True,
                    logits_to_keep=1)
        last = positions[:, -1].repeat_interleave(beams)
        steps = DynamicCache(config=model.config)

        def advance(token: torch.Tensor, depth: int) -> torch.Tensor:
            # Beams are only reordered within their example, so the prompt's mask and positions still hold.
            return model(input_ids=token[:, None], position_ids=(last + depth)[:, None], cache=steps, use_cache=True,
                         logits_to_keep=1).logits[:, -1]

        with beams_share_prefix(model, out.cache, attention_mask, beams):
            return self._walk(out.logits[:, -1], steps, beams, advance)


class _HeadState:
    """The item-level search's per-beam state: the history's hidden state plus the chosen codes' embeddings."""

    def __init__(self, hidden: torch.Tensor):
        self.state = hidden

    def reorder_cache(self, rows: torch.Tensor) -> None:
        self.state = self.state[rows]


class ItemLevelBeamSearch(TrieSearch):
    """The `items` backbone (model/item_decoder.py): one body pass over the history's items, then the beam
    steps run the per-level head only (h plus the embeddings of the codes chosen so far)."""

    logits_per_level = True

    def prompt(self, history: list[int], max_items: int) -> list[int]:
        return history[-max_items:]

    @property
    def pad_value(self) -> int:
        return self.vocab.catalog.n_items  # the pad item (model/item_decoder.py: its block is all pad tokens)

    @torch.no_grad()
    def search(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int) -> tuple[torch.Tensor, torch.Tensor]:
        head = _HeadState(model.last_hidden(input_ids, attention_mask))

        def advance(token: torch.Tensor, depth: int) -> torch.Tensor:
            head.state = head.state + model.chosen(token)
            return model.level_logits(head.state, depth)

        return self._walk(model.level_logits(head.state, 0), head, beams, advance)


def length_groups(order: list[int], lengths: list[int], chunk: int, stretch: float = 1.5, slack: int = 16) -> list[list[int]]:
    """`order` (indices sorted by length) cut into runs of at most `chunk` whose longest prompt is at most
    `stretch` times the shortest plus `slack` tokens: the pads stay a fraction of the work, while prompts
    of nearly one length still share a search (each search costs a few steps of fixed overhead)."""
    groups: list[list[int]] = []
    for index in order:
        if groups and len(groups[-1]) < chunk and lengths[index] <= stretch * lengths[groups[-1][0]] + slack:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def beam_search_for(model, vocab: SIDVocabulary, device: torch.device | str = "cpu") -> TrieSearch:
    """The search that fits the model's shape."""
    if getattr(model, "is_item_level", False):
        return ItemLevelBeamSearch(vocab, device)
    encoder_decoder = getattr(model.config, "is_encoder_decoder", False)
    return (ConstrainedBeamSearch if encoder_decoder else DecoderOnlyBeamSearch)(vocab, device)
