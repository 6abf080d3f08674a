"""GRPO paths beside the default one, each on a tiny real model: several updates per batch (the clipped ratio),
beta's pull toward the reference, sampled candidates, and the decoder-only prompt (left padding, positions)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_rl import _candidates, _item_logprobs, _kl, tiny_model

from deepinterest.config import load_config
from deepinterest.model.constrained import beam_search_for
from deepinterest.training.grpo import _update, candidate_tokens, sample_candidates, sequence_logprobs, train_grpo

REWARDED_FIRST = [1.5, -0.5, -0.5, -0.5]  # per group: the first candidate rewarded, the others penalised


@pytest.fixture(scope="module", params=["tiger", "decoder"])
def small_model(office, office_sid, request):
    return tiny_model(office, office_sid, f"sft.backbone={request.param}")


def updated(small_model, overrides: list[str], optimizer=torch.optim.AdamW, lr: float = 1e-2, calls: int = 1):
    """(change of every candidate's log-probability, KL to the start) after `calls` _update calls."""
    _, vocab, start = small_model
    ids, mask, items, tokens, token_mask = _candidates(small_model)
    model = copy.deepcopy(start)
    rl = load_config(None, [f"rl.lr={lr}", *overrides]).rl
    step = optimizer(model.parameters(), lr=lr)
    before = _item_logprobs(model, ids, mask, tokens, token_mask, 4)
    for _ in range(calls):
        _update(model, start, step, ids, mask, vocab, items, np.tile(REWARDED_FIRST, (len(items), 1)), rl)
    change = (_item_logprobs(model, ids, mask, tokens, token_mask, 4) - before).numpy()
    return change, _kl(model, start, ids, mask, tokens, token_mask, 4)


def test_more_updates_per_batch_move_further_and_the_clip_bounds_them(small_model):
    one, _ = updated(small_model, ["rl.updates_per_batch=1", "rl.beta=0"], torch.optim.SGD, lr=0.1)
    five, _ = updated(small_model, ["rl.updates_per_batch=5", "rl.beta=0", "rl.clip=0.9"], torch.optim.SGD, lr=0.1)
    clipped, _ = updated(small_model, ["rl.updates_per_batch=5", "rl.beta=0", "rl.clip=0.02"], torch.optim.SGD, lr=0.1)
    # (Penalised siblings share SID prefixes with the rewarded one: plain SGD may lift them a little too.)
    gain = {name: float(c[:, 0].mean() - c[:, 1:].mean()) for name, c in (("one", one), ("five", five), ("clipped", clipped))}
    assert min(gain.values()) > 0
    # Plain SGD: a token whose ratio has left [1 - clip, 1 + clip] in its advantage's direction gets no gradient,
    # so with a tight clip the later updates add less (a ratio stuck at 1 would clip nothing).
    assert gain["one"] < gain["five"] and gain["clipped"] < 0.8 * gain["five"], gain


def test_beta_pulls_the_policy_toward_the_reference(small_model):
    free, free_kl = updated(small_model, ["rl.beta=0"], calls=6)
    held, held_kl = updated(small_model, ["rl.beta=1.0"], calls=6)
    assert 0.0 < held_kl < free_kl
    assert 0.0 < held[:, 0].mean() < free[:, 0].mean()  # still learning, less far


def test_sampling_at_a_low_temperature_is_the_greedy_path_and_training_on_samples_runs(small_model, tmp_path):
    dataset, vocab, model = small_model
    search = beam_search_for(model, vocab)
    ids, mask = search.pad([vocab.history_tokens(seq[:5], 20) for seq in dataset.train_sequences[:6]])
    with torch.no_grad():
        greedy = search.search(model, ids, mask, 1)[0]
        cold = sample_candidates(search, model, ids, mask, 4, 1e-4, torch.Generator().manual_seed(0))
        warm = sample_candidates(search, model, ids, mask, 4, 5.0, torch.Generator().manual_seed(0))
    assert torch.equal(cold, greedy.expand(-1, 4))
    assert not torch.equal(warm, greedy.expand(-1, 4)) and bool((warm >= 0).all())
    config = load_config(None, ["rl.steps=2", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=1",
                                "rl.generation=sample", "rl.inject_target=true", "sft.max_items=5"])
    _, log = train_grpo(copy.deepcopy(model), vocab, dataset.train_sequences[:50], config, lambda m: 0.0, tmp_path,
                        progress=False)
    assert all(e["reward_valid"] == pytest.approx(0.1) and e["reward_exact"] > 0 and "kl" in e for e in log["steps"])


@pytest.fixture(scope="module")
def learned_positions(office, office_sid):
    """A decoder with absolute positions: a prompt's log-probabilities depend on where its first token sits."""
    return tiny_model(office, office_sid, "sft.backbone=decoder", "sft.positions=learned")


def test_left_padded_prompts_score_as_they_would_alone(learned_positions):
    dataset, vocab, model = learned_positions
    search = beam_search_for(model, vocab)
    histories = [seq[:n] for seq, n in zip(dataset.train_sequences[:4], (1, 3, 5, 2))]  # different lengths
    ids, mask = search.pad([vocab.history_tokens(h, 20) for h in histories])
    assert ids.shape[1] > min(map(len, (vocab.history_tokens(h, 20) for h in histories)))  # someone is padded
    candidates, kept = candidate_tokens(vocab, np.array([7, 11, 19, 23]))
    with torch.no_grad():
        together = sequence_logprobs(model, ids, mask, candidates) * kept
        alone = torch.cat([sequence_logprobs(model, *search.pad([vocab.history_tokens(h, 20)]), candidates[r:r + 1])
                           for r, h in enumerate(histories)]) * kept
    assert torch.allclose(together, alone, atol=1e-5)
