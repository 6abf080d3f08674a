"""Training data of the `decoder` backbone: a user's sequence as one token stream, the loss on every item.

One causal pass over `[start] block(item 1) block(item 2) ...` scores every item's SID given the
items before it: the same computation as one example per position (the per-position expansion TIGER
trains on), at a fraction of the tokens. A block is the item's SID tokens, followed by its interest
codes when they ride in the stream (training/interests.py). Sequences longer than `max_items` become
windows that overlap by half; each item's SID carries the loss once, in the first window where it is
new, so long users are not counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Sampler

from deepinterest.model.constrained import SIDVocabulary
from deepinterest.model.item_decoder import IGNORE  # cross-entropy's ignore_index: no loss here
from deepinterest.training.batching import length_bucketed_batches


def stream_examples(sequences: list[list[int]], vocab: SIDVocabulary, max_items: int, *,
                    code_loss: bool = False, soft: dict | None = None) -> list[tuple]:
    """(tokens, labels) per window; labels are the tokens where they carry loss, IGNORE elsewhere.

    SID tokens carry loss from each sequence's second item on; interest codes in the stream only with
    `code_loss` (the sid_to_interests task), and then for the first item too. With `soft` (a teacher's
    targets per (sequence, position), training/distill.py), a third element maps each learned SID
    token's index in the stream to its soft target.
    """
    examples = []
    for number, seq in enumerate(sequences):
        for start, end, fresh in windows(len(seq), max_items):
            tokens, labels, targets = list(vocab.prefix), [IGNORE] * len(vocab.prefix), {}
            for position in range(start, end):
                item = seq[position]
                sid, shown, block = vocab.item_tokens(item), vocab.item_sid_in_history(item), vocab.item_block(item)
                codes = block[len(shown):]
                # The SID as generated is the label, also where the history shows the item's own token
                # (an appended item token is not predicted: it carries no loss).
                target = sid + [IGNORE] * (len(shown) - len(sid))
                if position >= max(fresh, 1):
                    if soft is not None:
                        targets.update(zip(range(len(tokens), len(tokens) + len(sid)), soft[(number, position)]))
                    labels += target
                else:
                    labels += [IGNORE] * len(shown)
                tokens += block
                labels += codes if code_loss and position >= fresh else [IGNORE] * len(codes)
            examples.append((tokens, labels) if soft is None else (tokens, labels, targets))
    return examples


def windows(length: int, max_items: int) -> list[tuple[int, int, int]]:
    """(start, end, fresh) of a sequence's windows of at most `max_items` items, overlapping by half: the
    items from `fresh` on are new in the window (earlier windows had their loss). None below two items."""
    if length < 2:
        return []
    ends = [*range(max_items, length, max(1, max_items // 2)), length]
    return [(max(0, end - max_items), end, previous) for previous, end in zip([0, *ends], ends)]


def item_examples(sequences: list[list[int]], vocab: SIDVocabulary, max_items: int, soft: dict | None = None,
                  top: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """The `items` backbone's windows as tensors, ready to pad: (items, targets[, soft_index, soft_prob]).

    targets[i] is the SID of the item after position i where it carries loss (new in the window, not a
    sequence's first item), IGNORE elsewhere; with `soft` (training/distill.py) and its width `top`, the
    teacher's tokens and probabilities per (position, level), zero probability where none."""
    depth = vocab.catalog.max_length
    examples = []
    for number, seq in enumerate(sequences):
        for start, end, fresh in windows(len(seq), max_items):
            targets = torch.full((end - start, depth), IGNORE, dtype=torch.long)
            index, prob = torch.zeros((end - start, depth, top), dtype=torch.long), torch.zeros((end - start, depth, top))
            for position in range(max(fresh, start + 1, 1), end):
                sid = vocab.item_tokens(seq[position])
                targets[position - start - 1, :len(sid)] = torch.as_tensor(sid)
                for level, (tokens, probs) in enumerate(soft[(number, position)] if soft else ()):
                    index[position - start - 1, level], prob[position - start - 1, level] = torch.as_tensor(tokens), torch.as_tensor(probs)
            items = torch.as_tensor(seq[start:end], dtype=torch.long)
            examples.append((items, targets) if soft is None else (items, targets, index, prob))
    return examples


def collate_items(batch: list[tuple[torch.Tensor, ...]], pad_item: int) -> dict[str, torch.Tensor]:
    """Right-padded item windows (the pad item), their mask, targets (IGNORE) and soft targets if any."""
    items = pad_sequence([example[0] for example in batch], batch_first=True, padding_value=pad_item)
    mask = pad_sequence([torch.ones(len(example[0]), dtype=torch.long) for example in batch], batch_first=True)
    out = {"items": items, "attention_mask": mask,
           "targets": pad_sequence([example[1] for example in batch], batch_first=True, padding_value=IGNORE)}
    if len(batch[0]) > 2:
        out["soft_index"] = pad_sequence([example[2] for example in batch], batch_first=True)
        out["soft_prob"] = pad_sequence([example[3] for example in batch], batch_first=True)
    return out


def prompt_target_streams(pairs: list[tuple[list[int], list[int]]], start: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """(prompt, target) task examples as streams: `start + prompt + target`, the loss on the target."""
    return [([*start, *prompt, *target], [IGNORE] * (len(start) + len(prompt)) + list(target)) for prompt, target in pairs]


def collate_streams(batch: list[tuple], pad: int, soft_width: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded streams (positions count from 0 in every row) and their labels; with `soft_width`,
    the soft targets too (`soft_index`, `soft_prob`: zero probability where a token has none)."""
    width = max(len(example[0]) for example in batch)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    soft_index = torch.zeros((len(batch), width, soft_width), dtype=torch.long)
    soft_prob = torch.zeros((len(batch), width, soft_width))
    for row, (tokens, target, *soft) in enumerate(batch):
        input_ids[row, :len(tokens)] = torch.as_tensor(tokens)
        labels[row, :len(tokens)] = torch.as_tensor(target)
        mask[row, :len(tokens)] = 1
        if soft and soft_width and soft[0]:  # one copy a row: the columns of its learned tokens at once
            columns = list(soft[0])
            soft_index[row, columns] = torch.as_tensor([index for index, _ in soft[0].values()])
            soft_prob[row, columns] = torch.as_tensor([prob for _, prob in soft[0].values()])
    out = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    return {**out, "soft_index": soft_index, "soft_prob": soft_prob} if soft_width else out


class LengthBuckets(Sampler[list[int]]):
    """`batch_size` streams of similar length a batch, the batches in a random order (training/batching.py).

    The order depends only on `generator`'s state, which the trainer seeds per epoch (a resumed run
    repeats an uninterrupted one); the batch count is fixed, so the learning-rate schedule resumes exactly.
    """

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator, pool: int = 50):
        self.lengths = torch.as_tensor(lengths)
        self.batch_size, self.generator, self.pool = batch_size, generator, pool

    def __len__(self) -> int:
        n, size = len(self.lengths), self.batch_size * self.pool
        return sum(-(-min(size, n - s) // self.batch_size) for s in range(0, n, size))

    def __iter__(self) -> Iterator[list[int]]:
        for batch in length_bucketed_batches(self.lengths, self.batch_size, self.generator, self.pool, by_targets=False):
            yield batch.tolist()
