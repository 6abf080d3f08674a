"""Leakage guards on real Office: a valid or test interaction never reaches what the model learns from.

Office's leave-one-out split holds out every user's last two items; some item pairs co-occur only there,
and 13 items occur nowhere else. Those held-out interactions are the plants: each test shows that they do not
reach RLDI's neighbours, the prompts' interest codes, or the RL examples that the reward scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.labeling.features import co_interaction_neighbours
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.grpo import rl_examples
from deepinterest.training.interests import with_interests
from deepinterest.training.sft import build_vocabulary, next_sid_examples

K = 10


def co_items(sequences: list[list[int]], n_items: int) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n_items)]
    for sequence in sequences:
        for item in set(sequence):
            out[item] |= set(sequence) - {item}
    return out


@pytest.fixture(scope="module")
def dataset(office):
    return PreparedDataset(office)


def test_rldi_neighbours_come_from_training_sequences_only(dataset):
    trained = co_items(dataset.train_sequences, dataset.n_items)
    full = co_items(dataset.sequences["items"].to_list(), dataset.n_items)
    # Planted by the split: pairs that co-occur only through a valid/test item, at items with room in their top K.
    planted = [(a, b) for a in range(dataset.n_items) if len(trained[a]) < K for b in full[a] - trained[a]]
    assert len(planted) > 100
    neighbours = co_interaction_neighbours(dataset, K)
    assert not [(a, b) for a, b in planted if b in neighbours[a]]
    assert all(set(near.tolist()) <= trained[item] for item, near in enumerate(neighbours))
    # ... and they are the training co-interactions themselves: the K most shared, or all of them
    assert all(len(near) == min(K, len(trained[item])) for item, near in enumerate(neighbours))


@pytest.fixture(scope="module")
def own_codes(dataset, office_sid):
    """Every item its own interest code, and room for more codes before a history than it has items (20): a
    prompt then names exactly the items its interests were drawn from."""
    config = load_config(None, ["sft.max_items=20"])
    vocab, _ = build_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids), config.sft)
    codes = {"n_codes": dataset.n_items, "user_codes": 40, "item_codes": [[i] for i in range(dataset.n_items)]}
    return with_interests(vocab, codes)


def prompt_items(vocab, prompt: list[int]) -> set[int]:
    start = vocab.code_tokens([0])[0]
    return {token - start for token in prompt if token >= start}


def test_sft_prompts_carry_the_interests_of_earlier_training_items_only(dataset, own_codes):
    examples = next_sid_examples(dataset.train_sequences, own_codes, 20)
    expected = [(set(seq[:position][-20:]), seq[position]) for seq in dataset.train_sequences
                for position in range(1, len(seq))]
    assert len(examples) == len(expected) == sum(len(seq) - 1 for seq in dataset.train_sequences)
    for (prompt, target), (earlier, item) in zip(examples, expected):
        assert prompt_items(own_codes, prompt) == earlier and target == own_codes.item_tokens(item)


def test_held_out_items_reach_no_training_prompt_and_no_rl_target(dataset, own_codes):
    held_only = set(np.flatnonzero(dataset.train_popularity == 0).tolist())  # items seen only as valid/test targets
    valid, test = dataset.examples("valid"), dataset.examples("test")
    assert len(held_only) >= 10 and held_only <= set(valid.targets.tolist()) | set(test.targets.tolist())
    seen = set().union(*(prompt_items(own_codes, p) for p, _ in next_sid_examples(dataset.train_sequences, own_codes, 20)))
    assert seen and not seen & held_only
    rl = rl_examples(dataset.train_sequences)
    assert len(rl) == sum(len(seq) - 1 for seq in dataset.train_sequences)
    assert not {t for _, t in rl} & held_only and not {i for h, _ in rl for i in h} & held_only
    # A valid prompt's user interests come from the training history: never the valid or the test target.
    for history, target, user in zip(valid.histories, valid.targets, valid.users):
        named = prompt_items(own_codes, own_codes.history_tokens(history, 20))
        assert named == set(dataset.train_sequences[user][-20:])
        assert target not in named or target in dataset.train_sequences[user]
