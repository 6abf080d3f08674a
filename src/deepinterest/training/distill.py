"""Soft targets for the decoder's SID tokens from a trained SASRec (sft.teacher, sft.teacher_weight).

One-hot next-item targets tell the decoder nothing about the items a user might as well have bought.
A SASRec trained on the same training split gives, at every position of a training sequence, a
distribution over all items; the decoder's SID factorizes that distribution level by level. At level l
of the true item's SID, the soft target is the teacher's mass on the items that share the true item's
first l tokens, summed by their token at level l (renormalized): exactly the conditional the decoder's
softmax at that token models, so `teacher_weight` 1 would make the decoder imitate the teacher's ranking
through its own trie. The loss mixes the two: (1 - w) * cross-entropy on the true token + w * cross-entropy
on the soft target. Only training sequences are read (positions predict items of the training split).

Targets are kept sparse: the `TOP` most likely tokens of each level, renormalized.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deepinterest.model.constrained import SIDVocabulary
from deepinterest.model.scores import mask_history, soft_mixed_nll
from deepinterest.training.sasrec import load_sasrec

TOP = 16  # tokens kept per soft target (a level's mass is almost all in its few likeliest tokens)
SoftTargets = dict[tuple[int, int], list[tuple[list[int], list[float]]]]  # (sequence, position) -> per SID token


def _level_tables(vocab: SIDVocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Per item and depth: the vocabulary token at that depth (-1 past the SID's end), and a group id of
    the tokens before it (items of one group are the candidates at that depth)."""
    n, depth = vocab.catalog.n_items, vocab.catalog.max_length
    tokens = np.full((n, depth), -1, dtype=np.int64)
    for item in range(n):
        sid = vocab.item_tokens(item)
        tokens[item, :len(sid)] = sid
    groups = np.zeros((n, depth), dtype=np.int64)
    for level in range(1, depth):
        _, groups[:, level] = np.unique(tokens[:, :level], axis=0, return_inverse=True)
    return tokens, groups


def teacher_probabilities(sasrec, histories: list[list[int]], true: torch.Tensor, temperature: float,
                          exclude_history: bool) -> torch.Tensor:
    """The teacher's next-item distribution per history (rows: histories, columns: items). With
    `exclude_history`, items already in the history get no mass (except the true next item): SASRec
    scores the last item high through its tied item embeddings (on Beauty's training positions 96% of
    its top items are the last one, 36% of its mass), while these splits never repeat an item."""
    logits = sasrec.score(None, histories) / temperature
    if exclude_history:
        mask_history(logits, histories, keep=true)
    return torch.softmax(logits, dim=-1)


def soft_targets(sequences: list[list[int]], vocab: SIDVocabulary, teacher: Path, temperature: float = 1.0,
                 exclude_history: bool = True, chunk: int = 512, top: int = TOP) -> SoftTargets:
    """The teacher's soft target of every SID token of every item after each sequence's first: its `top`
    likeliest tokens per depth, renormalized."""
    sasrec = load_sasrec(teacher, vocab.catalog.n_items)
    tokens, groups = (torch.as_tensor(a) for a in _level_tables(vocab))
    positions = [(s, k) for s, seq in enumerate(sequences) for k in range(1, len(seq))]
    out: SoftTargets = {}
    for start in range(0, len(positions), chunk):
        part = positions[start:start + chunk]
        histories = [sequences[s][:k][-sasrec.max_len:] for s, k in part]
        true = torch.as_tensor([sequences[s][k] for s, k in part])
        probs = teacher_probabilities(sasrec, histories, true, temperature, exclude_history)
        per_level = []
        for level in range(tokens.shape[1]):
            same = (groups[:, level][None, :] == groups[true, level][:, None]) & (tokens[:, level] >= 0)[None, :]
            mass = torch.zeros(len(part), vocab.size).scatter_add_(1, tokens[:, level].clamp(min=0).expand(len(part), -1),
                                                                    probs * same)
            top_tokens = mass.topk(top, dim=-1)
            per_level.append((top_tokens.indices, top_tokens.values / top_tokens.values.sum(-1, keepdim=True).clamp(min=1e-12)))
        lengths = (tokens[true] >= 0).sum(1).tolist()  # each true item's SID length
        for row, (s, k) in enumerate(part):
            out[(s, k)] = [(per_level[d][0][row].tolist(), per_level[d][1][row].tolist()) for d in range(lengths[row])]
    return out


def mixed_loss(logits: torch.Tensor, labels: torch.Tensor, soft_index: torch.Tensor, soft_prob: torch.Tensor,
               weight: float) -> torch.Tensor:
    """Per labelled token, (1 - weight) * cross-entropy on the true token + weight * cross-entropy on the
    soft target, averaged over the labelled tokens (the hard part is the model's own causal-LM loss); a
    labelled token without a soft target (an interest code, a task stream) keeps its true token there too.
    One log-softmax serves both parts, so the model is called without labels."""
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    labels, index, prob = labels[:, 1:], soft_index[:, 1:], soft_prob[:, 1:]
    labelled = labels != -100
    return (soft_mixed_nll(logprobs, labels.clamp(min=0), index, prob, weight) * labelled).sum() / labelled.sum().clamp(min=1)
