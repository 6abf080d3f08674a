"""The Interest-Aware Reward against hand-computed values, and GRPO on a small real model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepinterest.config import RewardConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.model.constrained import beam_search_for
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.grpo import candidate_tokens, sample_candidates, sequence_logprobs, train_grpo
from deepinterest.training.reward import group_advantages, interest_aware_reward, k3_kl
from deepinterest.training.sft import build_model, build_vocabulary

WEIGHTS = RewardConfig(exact=1.0, valid=0.1, prefix=0.5, alpha=0.5, interest=0.3)


def test_a_hit_earns_every_term():
    r = interest_aware_reward((4, 9, 2), (4, 9, 2), is_item=True, q_target=0.6, interest_sim=0.8, rank=1, config=WEIGHTS)
    assert r == pytest.approx({"exact": 1.0, "valid": 0.1, "prefix": 0.5, "quality": 0.3, "interest": 0.24, "collab": 0.0,
                               "rank": 0.0, "total": 2.14})


def test_a_near_miss_earns_prefix_and_interest_credit():
    r = interest_aware_reward((4, 9, 7), (4, 9, 2), is_item=True, q_target=0.6, interest_sim=0.5, rank=3, config=WEIGHTS)
    assert r["exact"] == 0 and r["quality"] == 0
    assert r["prefix"] == pytest.approx(0.5 * 2 / 3) and r["interest"] == pytest.approx(0.15)
    assert r["total"] == pytest.approx(0.1 + 1 / 3 + 0.15)


def test_a_non_item_earns_nothing_and_the_rank_penalty_grows_with_rank():
    assert interest_aware_reward((4, 9), (4, 9, 2), is_item=False, q_target=1, interest_sim=0.9, rank=1,
                                 config=WEIGHTS)["total"] == pytest.approx(0.5 * 2 / 3)  # only the prefix it shares
    ranked = RewardConfig(rank_penalty=True, rank_weight=0.5, prefix=0, valid=0, interest=0)
    penalties = [interest_aware_reward((1, 1, 1), (2, 2, 2), is_item=True, q_target=0, interest_sim=0, rank=k,
                                       config=ranked)["rank"] for k in (1, 2, 3)]
    assert penalties == pytest.approx([-0.5, -0.5 / math.log2(3), -0.25])
    hit = interest_aware_reward((2, 2, 2), (2, 2, 2), is_item=True, q_target=0, interest_sim=0, rank=3, config=ranked)
    assert hit["rank"] == 0.0


def test_group_advantages_and_zero_variance_groups():
    advantages, flat = group_advantages(np.array([[1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2]]))
    assert flat.tolist() == [False, True]
    assert advantages[0] == pytest.approx([3 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3)], rel=1e-5)
    assert advantages[1].tolist() == [0.0] * 4


def test_k3_is_zero_at_equal_policies_and_positive_otherwise():
    assert k3_kl(-1.2, -1.2) == 0.0
    assert k3_kl(-1.0, -2.0) == pytest.approx(math.exp(-1) + 1 - 1) and k3_kl(-2.0, -1.0) > 0


def tiny_model(office, office_sid, *overrides):
    """(dataset, vocabulary, a tiny untrained model) on Office's SIDs; `overrides` pick the backbone and more."""
    dataset = PreparedDataset(office)
    config = load_config(None, ["sft.d_model=32", "sft.layers=1", "sft.heads=2", "sft.d_kv=16", "sft.d_ff=64", *overrides])
    vocab, _ = build_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids), config.sft)
    torch.manual_seed(0)
    return dataset, vocab, build_model(vocab, config.sft).eval()


@pytest.fixture(scope="module", params=["tiger", "decoder", "items"])
def small_model(office, office_sid, request):
    """A small untrained model of each from-scratch backbone (encoder-decoder and decoder-only paths)."""
    return tiny_model(office, office_sid, f"sft.backbone={request.param}")


def test_sequence_logprobs_add_up_to_the_beam_search_scores(small_model):
    dataset, vocab, model = small_model
    search = beam_search_for(model, vocab)
    ids, mask = search.pad([search.prompt(seq[:5], 20) for seq in dataset.train_sequences[:6]])
    with torch.no_grad():
        items, scores = search.search(model, ids, mask, 4)
        tokens, token_mask = candidate_tokens(vocab, items.numpy().reshape(-1))
        total = (sequence_logprobs(model, ids, mask, tokens, 4) * token_mask).sum(1).view(6, 4)
    assert torch.allclose(total, scores, atol=1e-4)
    sampled = sample_candidates(search, model, ids, mask, 5, 1.0, torch.Generator().manual_seed(0))
    assert sampled.shape == (6, 5) and bool((sampled >= 0).all())  # every sample is a catalog item


def test_grpo_steps_log_every_reward_component_and_keep_the_best(small_model, tmp_path):
    dataset, vocab, model = small_model
    config = load_config(None, ["rl.steps=3", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=1",
                                "rl.reward.rank_penalty=true", "sft.max_items=5"])
    scores = iter([0.1, 0.05, 0.3, 0.2])  # step 0 (the SFT start), then after each step
    policy, log = train_grpo(model, vocab, dataset.train_sequences[:50], config, lambda m: next(scores), tmp_path,
                             progress=False)
    assert [v["step"] for v in log["validations"]] == [0, 1, 2, 3] and log["best_step"] == 2
    first = log["steps"][0]
    for key in ("reward_exact", "reward_valid", "reward_prefix", "reward_quality", "reward_interest", "reward_rank",
                "reward_total", "zero_variance_share", "hit_rate"):
        assert key in first
    assert first["reward_valid"] == pytest.approx(0.1)  # every candidate is a real item
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "rl_curves.png").exists()


def test_the_rank_penalty_stays_only_in_groups_with_a_hit():
    from deepinterest.training.grpo import drop_rank_without_hit
    from deepinterest.training.reward import COMPONENTS

    parts = np.zeros((2, 3, len(COMPONENTS)))
    rank, total = COMPONENTS.index("rank"), COMPONENTS.index("total")
    parts[:, :, rank] = parts[:, :, total] = [-0.5, -0.3, -0.25]
    parts[0, 1, total] += 1.0  # group 0: the second candidate is the target
    drop_rank_without_hit(parts, np.array([[False, True, False], [False, False, False]]))
    assert parts[0, :, total].tolist() == pytest.approx([-0.5, 0.7, -0.25])
    assert parts[1, :, rank].tolist() == [0.0, 0.0, 0.0] and parts[1, :, total].tolist() == [0.0, 0.0, 0.0]


def test_injected_targets_replace_the_last_candidate_only_where_the_group_missed():
    from deepinterest.training.grpo import inject_targets

    items = np.array([[5, 6, 7], [1, 2, 3], [4, 9, -1]])
    inject_targets(items, np.array([6, 8, 0]))
    assert items.tolist() == [[5, 6, 7], [1, 2, 8], [4, 9, 0]]


def test_injected_targets_leave_no_group_without_a_signal_and_dropout_training_ends_in_eval_mode(small_model, tmp_path):
    dataset, vocab, model = small_model
    config = load_config(None, ["rl.steps=2", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=1",
                                "rl.inject_target=true", "rl.dropout=true", "sft.max_items=5"])
    policy, log = train_grpo(model, vocab, dataset.train_sequences[:50], config, lambda m: 0.0, tmp_path, progress=False)
    assert all(e["zero_variance_share"] == 0.0 and e["reward_exact"] > 0 for e in log["steps"])
    assert not policy.training
    with pytest.raises(ValueError, match="updates_per_batch"):
        load_config(None, ["rl.dropout=true", "rl.updates_per_batch=2"])


def test_interest_references_are_the_history_mean_or_the_target_item():
    from deepinterest.training.grpo import interest_references

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # item 2 has no kept interests
    targets = np.array([1, 2])
    user = interest_references([[0, 1], [0]], targets, vectors, "user")
    np.testing.assert_allclose(user, [[math.sqrt(0.5), math.sqrt(0.5)], [1.0, 0.0]])
    target = interest_references([[0, 1], [0]], targets, vectors, "target")
    assert target.tolist() == [[0.0, 1.0], [0.0, 0.0]]
    # the target's own candidate scores 1; with a target lacking interests every candidate scores 0
    assert float(target[0] @ vectors[1]) == 1.0 and float(target[1] @ vectors[0]) == 0.0
    assert interest_references([[0]], targets[:1], None, "target") is None


def test_the_collab_term_is_the_ndcg_gain_of_the_teachers_rank():
    teacher = RewardConfig(exact=1.0, valid=0.0, prefix=0.0, alpha=0.0, interest=0.0, collab=0.6)
    top = interest_aware_reward((1, 2), (1, 2), is_item=True, q_target=0, interest_sim=0, rank=1, config=teacher,
                                teacher_rank=0)
    third = interest_aware_reward((1, 3), (1, 2), is_item=True, q_target=0, interest_sim=0, rank=2, config=teacher,
                                  teacher_rank=2)
    assert top["collab"] == pytest.approx(0.6) and top["total"] == pytest.approx(1.6)
    assert third["collab"] == pytest.approx(0.6 / 2) and third["total"] == pytest.approx(0.3)
    assert interest_aware_reward((1,), (1, 2), is_item=False, q_target=0, interest_sim=0, rank=1, config=teacher,
                                 teacher_rank=-1)["collab"] == 0.0
    assert interest_aware_reward((1, 3), (1, 2), is_item=True, q_target=0, interest_sim=0, rank=1,
                                 config=teacher)["collab"] == 0.0  # no teacher


def test_teacher_ranks_count_only_strictly_better_items():
    from deepinterest.training.grpo import teacher_ranks

    scores = torch.tensor([[0.1, 0.5, 0.3, 0.5], [4.0, 3.0, 2.0, 1.0]])
    assert teacher_ranks(scores, np.array([[1, 3, 2], [3, 0, -1]])).tolist() == [[0, 0, 2], [3, 0, -1]]


def test_a_trained_sasrec_teacher_feeds_the_collab_reward(office, small_model, tmp_path):
    import copy

    from deepinterest.evaluation.baselines import run_sasrec
    from deepinterest.evaluation.generative import collaborative_teacher

    dataset, vocab, model = small_model
    run_sasrec(office, tmp_path / "sasrec", load_config(None, ["sasrec.hidden=16", "sasrec.epochs=1"]), progress=False)
    teacher = collaborative_teacher(tmp_path / "sasrec", dataset.n_items, torch.device("cpu"))
    config = load_config(None, ["rl.steps=2", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=1",
                                "rl.reward.collab=1.0", "sft.max_items=5"])
    _, log = train_grpo(copy.deepcopy(model), vocab, dataset.train_sequences[:50], config, lambda m: 0.0,
                        tmp_path / "rl", teacher=teacher, progress=False)
    # every candidate is an item, so each earns a gain in (0, 1]; an untrained policy's are not all the teacher's top
    assert all(0.0 < e["reward_collab"] < 1.0 for e in log["steps"])
    with pytest.raises(ValueError, match="rl.teacher"):
        collaborative_teacher(None, dataset.n_items, torch.device("cpu"))
    with pytest.raises(ValueError, match="another catalog"):
        collaborative_teacher(tmp_path / "sasrec", dataset.n_items + 1, torch.device("cpu"))


def _candidates(small_model, prompts: int = 6, group: int = 4):
    dataset, vocab, model = small_model
    search = beam_search_for(model, vocab)
    ids, mask = search.pad([search.prompt(seq[:5], 20) for seq in dataset.train_sequences[:prompts]])
    with torch.no_grad():
        items = search.search(model, ids, mask, group)[0].numpy()
    tokens, token_mask = candidate_tokens(vocab, items.reshape(-1))
    return ids, mask, items, tokens, token_mask


def _item_logprobs(model, ids, mask, tokens, token_mask, group):
    with torch.no_grad():
        return (sequence_logprobs(model, ids, mask, tokens, group) * token_mask).sum(1).view(-1, group)


def _kl(model, reference, ids, mask, tokens, token_mask, group):
    with torch.no_grad():
        per_token = k3_kl(sequence_logprobs(model, ids, mask, tokens, group), sequence_logprobs(reference, ids, mask, tokens, group))
    return float((per_token * token_mask).sum() / token_mask.sum())


@pytest.mark.parametrize("lr", [1e-3, 1e-2])
def test_a_grpo_update_raises_rewarded_candidates_and_lowers_penalised_ones(small_model, lr):
    """The direction of learning: fails if the objective's sign is flipped (checked by flipping it)."""
    import copy

    from deepinterest.training.grpo import _update

    _, vocab, start = small_model
    ids, mask, items, tokens, token_mask = _candidates(small_model)
    model, reference = copy.deepcopy(start), copy.deepcopy(start)
    advantages = np.tile([1.5, -0.5, -0.5, -0.5], (len(items), 1))  # the first candidate of every group rewarded
    rl = load_config(None, [f"rl.lr={lr}", "rl.beta=0.04"]).rl
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    before = _item_logprobs(model, ids, mask, tokens, token_mask, 4)
    kls = [_update(model, reference, optimizer, ids, mask, vocab, items, advantages, rl)["kl"] for _ in range(5)]
    after = _item_logprobs(model, ids, mask, tokens, token_mask, 4)
    change = (after - before).numpy()
    # Candidates share SID prefixes, so a penalised one may rise with its rewarded sibling's first tokens;
    # on average they fall, and in every group the rewarded candidate gains more than its penalised ones on average.
    assert change[:, 0].mean() > 0 > change[:, 1:].mean()
    assert (change[:, 0] > change[:, 1:].mean(1)).all()
    assert kls[0] == 0.0 and kls[-1] > 0.0  # the first step starts at the reference
    assert _kl(model, reference, ids, mask, tokens, token_mask, 4) > 0.0


def test_the_kl_to_the_reference_grows_with_the_learning_rate(small_model):
    import copy

    from deepinterest.training.grpo import _update

    _, vocab, start = small_model
    ids, mask, items, tokens, token_mask = _candidates(small_model)
    advantages = np.tile([1.5, -0.5, -0.5, -0.5], (len(items), 1))
    drift = {}
    for lr in (1e-3, 1e-2):
        model = copy.deepcopy(start)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        rl = load_config(None, [f"rl.lr={lr}", "rl.beta=0.04"]).rl
        for _ in range(3):
            _update(model, start, optimizer, ids, mask, vocab, items, advantages, rl)
        drift[lr] = _kl(model, start, ids, mask, tokens, token_mask, 4)
    assert 0.0 < drift[1e-3] < drift[1e-2]


def test_the_kept_policy_holds_the_best_steps_weights(small_model, tmp_path):
    dataset, vocab, model = small_model
    config = load_config(None, ["rl.steps=3", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=1", "rl.lr=0.01",
                                "rl.inject_target=true", "sft.max_items=5"])
    scores, snapshots = iter([0.1, 0.05, 0.3, 0.2]), []

    def validate(policy):
        snapshots.append({k: v.detach().clone() for k, v in policy.state_dict().items()})
        return next(scores)

    policy, log = train_grpo(model, vocab, dataset.train_sequences[:50], config, validate, tmp_path, progress=False)
    assert log["best_step"] == 2
    kept = policy.state_dict()
    assert all(torch.equal(kept[k], snapshots[2][k]) for k in kept)
    assert not all(torch.equal(kept[k], snapshots[3][k]) for k in kept)  # the last step moved on, and was not kept


def test_grpo_resumed_from_its_checkpoint_repeats_an_uninterrupted_run(office, office_sid, tmp_path):
    """Stopped after step 2 (its checkpoint) and run again to step 4, GRPO takes the very steps of a run that
    never stopped: batches, sampled candidates and dropout masks come back with the policy and the optimizer."""
    from safetensors.torch import load_file

    def grpo(steps: int, out):
        dataset, vocab, model = tiny_model(office, office_sid, "sft.backbone=decoder")
        config = load_config(None, [f"rl.steps={steps}", "rl.batch_size=8", "rl.group_size=4", "rl.eval_every=2",
                                    "rl.generation=sample", "rl.dropout=true", "rl.inject_target=true", "rl.lr=1e-2",
                                    "sft.max_items=5"])
        validate = lambda m: -float(sum(p.detach().abs().sum() for p in m.parameters()))  # moves with the weights
        return train_grpo(model, vocab, dataset.train_sequences[:50], config, validate, out, progress=False)[1]

    whole = grpo(4, tmp_path / "whole")
    first = grpo(2, tmp_path / "resumed")
    resumed = grpo(4, tmp_path / "resumed")
    assert len(first["steps"]) == 2 and resumed["steps"][:2] == first["steps"]
    assert resumed["steps"] == whole["steps"] and resumed["validations"] == whole["validations"]
    assert all("loss" in step for step in whole["steps"])  # every step updated the policy (the target in each group)
    for name in ("model.safetensors", "checkpoint/model.safetensors"):
        a, b = load_file(tmp_path / "whole" / name), load_file(tmp_path / "resumed" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    with pytest.raises(ValueError, match="other RL settings"):
        dataset, vocab, model = tiny_model(office, office_sid, "sft.backbone=decoder")
        train_grpo(model, vocab, dataset.train_sequences[:50], load_config(None, ["rl.batch_size=4", "sft.max_items=5"]),
                   lambda m: 0.0, tmp_path / "resumed", progress=False)
