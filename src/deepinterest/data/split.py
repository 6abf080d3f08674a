"""Train / valid / test splits. A user's valid or test target never enters training.

Both protocols produce the same shapes: per user the training part of the sequence (training
examples are its sliding windows), and evaluation examples (user, history, target) where the history
is everything of that user before the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    train: list[list[int]]  # per user index: the training part of the sequence
    examples: dict[str, tuple[list[int], list[list[int]], list[int]]]  # split -> (users, histories, targets)


def leave_one_out(sequences: list[list[int]], max_history: int) -> Split:
    """train = items[:-2], valid = items[-2], test = items[-1]; users with < 3 events only train."""
    train, examples = [], {"valid": ([], [], []), "test": ([], [], [])}
    for user, seq in enumerate(sequences):
        if len(seq) < 3:
            train.append(list(seq))
            continue
        train.append(seq[:-2])
        for name, cut in (("valid", len(seq) - 2), ("test", len(seq) - 1)):
            users, histories, targets = examples[name]
            users.append(user)
            histories.append(seq[max(0, cut - max_history):cut])
            targets.append(seq[cut])
    return Split(train, examples)


def global_chronological(
    sequences: list[list[int]], times: list[list[int]], ratios: tuple[float, float, float], max_history: int
) -> Split:
    """MiniOneRec's split: all events sorted by time, cut 8:1:1; valid/test events become examples."""
    flat_times = np.fromiter((t for ts in times for t in ts), dtype=np.int64)
    order = np.argsort(flat_times, kind="stable")
    n = len(order)
    first_valid, first_test = int(n * ratios[0]), int(n * (ratios[0] + ratios[1]))
    # The period of each event: 0 train, 1 valid, 2 test. Ties in time follow the global order.
    period = np.empty(n, dtype=np.int8)
    period[order[:first_valid]] = 0
    period[order[first_valid:first_test]] = 1
    period[order[first_test:]] = 2
    train, examples = [], {"valid": ([], [], []), "test": ([], [], [])}
    offset = 0
    for user, seq in enumerate(sequences):
        periods = period[offset:offset + len(seq)]
        offset += len(seq)
        train.append([item for item, p in zip(seq, periods) if p == 0])
        for position, p in enumerate(periods):
            if p == 0 or position == 0:
                continue
            users, histories, targets = examples["valid" if p == 1 else "test"]
            users.append(user)
            histories.append(seq[max(0, position - max_history):position])
            targets.append(seq[position])
    return Split(train, examples)


def count_windows(train: list[list[int]]) -> int:
    """Sliding-window training examples: every training item after a user's first."""
    return sum(max(len(seq) - 1, 0) for seq in train)
