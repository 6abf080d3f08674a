"""rl.lora: GRPO on LoRA adapters of a causal SFT run, on the tiny Llama of test_causal_lm.

What must hold: the base weights never move (only the adapters and the SID token rows train), the
update still raises rewarded candidates, and the kept policy (adapters merged) is what `deepinterest rl`
writes: reloaded through the normal loader it scores and ranks as the in-memory one did.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_causal_lm import tiny_data, tiny_lm  # noqa: F401 - fixtures
from test_rl import _candidates, _item_logprobs
from transformers import LlamaForCausalLM
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import ExperimentConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import read_json
from deepinterest.evaluation.generative import trained_catalog
from deepinterest.model.causal_lm import with_lora
from deepinterest.model.constrained import DecoderOnlyBeamSearch
from deepinterest.training import grpo
from deepinterest.training.sft import build_vocabulary, load_trained_model

ADAPTER = ("lora_", "trainable_tokens_delta")  # what peft trains: LoRA matrices and the SID token rows' deltas


def cli(*args: str) -> None:
    result = CliRunner().invoke(app, [*args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def sft_run(tiny_lm, tiny_data, tmp_path_factory):  # noqa: F811 - the fixtures, passed on
    """A finished full fine-tune of the tiny Llama: what `deepinterest rl --sft` starts from."""
    data, sid = tiny_data
    run = tmp_path_factory.mktemp("sft") / "run"
    cli("sft", "--data", str(data), "--sid", str(sid), "--out", str(run), "--epochs", "1", "--device", "cpu",
        "--set", "sft.backbone=causal", "--set", f"sft.model={tiny_lm}", "--set", "sft.batch_size=32",
        "--set", "sft.max_items=5")
    return run


def load_run(run):
    """(dataset, vocabulary, model) of a run folder, through the loader `deepinterest evaluate` uses."""
    info = read_json(run / "run.json")
    config = ExperimentConfig.model_validate(info["config"])
    dataset = PreparedDataset(Path(info["data"]))
    vocab, _ = build_vocabulary(trained_catalog(run, info, dataset), config.sft, checkpoint=run)
    return dataset, vocab, load_trained_model(run, vocab, config.sft).eval()


def weights(model, *, trained: bool) -> dict[str, torch.Tensor]:
    """Copies of the weights peft trains (`trained`) or of all the others."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if any(a in k for a in ADAPTER) == trained}


def probe_logprobs(model, vocab, dataset) -> torch.Tensor:
    """log pi(item | history) of every catalog item for four training histories, (4, n_items)."""
    search = DecoderOnlyBeamSearch(vocab)
    ids, mask = search.pad([vocab.history_tokens(seq[:4], 5) for seq in dataset.train_sequences[:4]])
    n = vocab.catalog.n_items
    return _item_logprobs(model, ids, mask, *grpo.candidate_tokens(vocab, np.tile(np.arange(n), 4)), n)


def test_rl_lora_moves_only_the_adapters_and_raises_rewarded_candidates(sft_run):
    """The direction test of test_rl, on the LoRA-wrapped SFT model run_rl trains."""
    dataset, vocab, start = load_run(sft_run)
    config = ExperimentConfig.model_validate(read_json(sft_run / "run.json")["config"])
    policy = with_lora(start, vocab, config.sft)
    reference, base, adapters = copy.deepcopy(policy), weights(policy, trained=False), weights(policy, trained=True)
    trainable = [(name, p) for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all(any(a in name for a in ADAPTER) for name, _ in trainable)
    ids, mask, items, tokens, token_mask = _candidates((dataset, vocab, policy))
    advantages = np.tile([1.5, -0.5, -0.5, -0.5], (len(items), 1))  # the first candidate of every group rewarded
    rl = load_config(None, ["rl.lr=1e-2", "rl.beta=0.04"]).rl
    optimizer = torch.optim.AdamW([p for _, p in trainable], lr=rl.lr, weight_decay=0.0)
    before = _item_logprobs(policy, ids, mask, tokens, token_mask, 4)
    for _ in range(5):
        grpo._update(policy, reference, optimizer, ids, mask, vocab, items, advantages, rl)
    change = (_item_logprobs(policy, ids, mask, tokens, token_mask, 4) - before).numpy()
    assert change[:, 0].mean() > 0 > change[:, 1:].mean()
    assert (change[:, 0] > change[:, 1:].mean(1)).all()
    after = policy.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.items())  # the base model, bit for bit
    assert all(not torch.equal(after[k], v) for k, v in adapters.items())  # every adapter learned


def test_rl_lora_keeps_the_best_steps_adapters_merged_and_the_run_reloads_to_the_same_scores(sft_run, tmp_path,
                                                                                           monkeypatch):
    """`deepinterest rl --set rl.lora=true` end to end; train_grpo is watched (its validation scores made to
    pick step 2 of 3) so the in-memory policy can be compared with what the run folder reloads to."""
    dataset, vocab, sft_model = load_run(sft_run)
    seen: dict = {"frozen": [], "probes": []}
    train_grpo, scores = grpo.train_grpo, iter([0.1, 0.2, 0.4, 0.3])  # step 0 (the SFT start), then each step

    def watched(policy, policy_vocab, sequences, config, validate, out, **options):
        seen["trainable"] = [name for name, p in policy.named_parameters() if p.requires_grad]

        def record(model) -> float:
            seen["frozen"].append(weights(model, trained=False))
            seen["probes"].append(probe_logprobs(model, vocab, dataset))
            return next(scores)

        seen["kept"], log = train_grpo(policy, policy_vocab, sequences, config, record, out, **options)
        return seen["kept"], log

    monkeypatch.setattr(grpo, "train_grpo", watched)
    out = tmp_path / "rl"
    cli("rl", "--sft", str(sft_run), "--out", str(out), "--set", "rl.lora=true", "--set", "rl.steps=3",
        "--set", "rl.batch_size=8", "--set", "rl.group_size=4", "--set", "rl.eval_every=1", "--set", "rl.lr=0.01",
        "--set", "rl.inject_target=true")
    assert json.loads((out / "rl_log.json").read_text())["best_step"] == 2

    # Trained: the adapters only; the base weights were the same at every validation, and the policy moved.
    assert seen["trainable"] and all(any(a in name for a in ADAPTER) for name in seen["trainable"])
    first, *later = seen["frozen"]
    assert len(later) == 3 and all(torch.equal(f[k], first[k]) for f in later for k in first)
    start, _, best, last = seen["probes"]
    assert not torch.allclose(best, start, atol=1e-3) and not torch.allclose(last, best, atol=1e-3)

    # Kept: a plain model, the best step's policy (not the last one's) with its adapters merged; the SID rows
    # and the linear layers moved, the text tokens' rows did not.
    kept = seen["kept"]
    assert type(kept) is LlamaForCausalLM
    assert torch.allclose(probe_logprobs(kept, vocab, dataset), best, atol=1e-5)
    rows, sft_rows = kept.get_input_embeddings().weight, sft_model.get_input_embeddings().weight
    assert torch.equal(rows[:vocab.offset], sft_rows[:vocab.offset])
    assert not torch.equal(rows[vocab.offset:], sft_rows[vocab.offset:])
    moved = [name for name, w in sft_model.named_parameters() if not torch.equal(w, kept.get_parameter(name))]
    assert any(name.endswith("q_proj.weight") for name in moved)

    # Reloaded: the run folder scores and ranks as the in-memory policy, and `evaluate` rewrites the same rankings.
    _, reloaded_vocab, reloaded = load_run(out)
    assert type(reloaded) is LlamaForCausalLM and reloaded_vocab.offset == vocab.offset
    assert torch.allclose(probe_logprobs(reloaded, vocab, dataset), best, atol=1e-5)
    search = DecoderOnlyBeamSearch(vocab)
    prompts = [vocab.history_tokens(seq, 5) for seq in dataset.train_sequences[:8]]
    with torch.no_grad():
        assert torch.equal(search.rank(kept, prompts, 10)[0], search.rank(reloaded, prompts, 10)[0])
    rankings = (out / "rankings.jsonl").read_text()
    cli("evaluate", "--run", str(out))
    assert (out / "rankings.jsonl").read_text() == rankings
