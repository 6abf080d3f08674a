"""SFT of the generative recommender on real Office SIDs: CLI, evaluation, resume, 2 processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import SFTConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.evaluation.rankings import metrics_from_rankings
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.sft import build_vocabulary, next_sid_examples, train_sft
from deepinterest.training.streams import item_examples, stream_examples

TINY = ["sft.d_model=32", "sft.layers=1", "sft.heads=2", "sft.d_kv=16", "sft.d_ff=64", "sft.batch_size=512",
        "sft.eval_every=1", "sft.valid_limit=100"]


def sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.mark.parametrize("backbone", ["tiger", "decoder", "items"])
def test_sft_cli_trains_and_ranks_only_catalog_items(backbone, office, office_sid, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["sft", "--data", str(office), "--sid", str(office_sid), "--out", str(run),
                                      "--epochs", "1", "--device", "cpu", *sets([*TINY, f"sft.backbone={backbone}"])])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["invalid_rate"] == 0.0 and metrics["valid"]["invalid_rate"] == 0.0
    lines = [json.loads(line) for line in (run / "rankings.jsonl").read_text().splitlines()]
    items = set(PreparedDataset(office).item_ids)
    assert len(lines) == 4905
    assert all(len(r["ranked"]) == 20 and len(set(r["ranked"])) == 20 and set(r["ranked"]) <= items for r in lines)
    recomputed = metrics_from_rankings(run / "rankings.jsonl")
    assert recomputed["ndcg@10"] == pytest.approx(metrics["test"]["ndcg@10"])
    log = json.loads((run / "train_log.json").read_text())
    assert len(log["epochs"]) == 1 and log["best_epoch"] == 1
    # Training positions only: no valid or test target is learnt (a split leak adds examples, or stream windows).
    dataset, sft = PreparedDataset(office), load_config(None, [*TINY, f"sft.backbone={backbone}"]).sft
    vocab, _ = build_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids), sft)
    made = {"tiger": next_sid_examples, "decoder": stream_examples, "items": item_examples}[backbone]
    assert log["settings"]["examples"] == len(made(dataset.train_sequences, vocab, sft.max_items))
    assert (run / "checkpoint" / "trainer_state.json").exists()

    # `evaluate --run` reloads the saved weights and reproduces the rankings exactly.
    before = (run / "rankings.jsonl").read_text()
    result = CliRunner().invoke(app, ["evaluate", "--run", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "rankings.jsonl").read_text() == before


def test_sft_refuses_missing_inputs_with_a_clear_error(office, tmp_path):
    result = CliRunner().invoke(app, ["sft", "--data", str(office), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "sft.sid" in result.output
    result = CliRunner().invoke(app, ["evaluate", "--run", str(tmp_path)])
    assert result.exit_code == 2 and "run.json" in result.output


def small_training(office, office_sid, backbone="tiger"):
    dataset = PreparedDataset(office)
    vocab, _ = build_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids), SFTConfig(backbone=backbone))
    return dataset.train_sequences[:400], vocab


def train(office, office_sid, out, epochs, backbone="tiger"):
    sequences, vocab = small_training(office, office_sid, backbone)
    config = load_config(None, [*TINY, f"sft.epochs={epochs}", "sft.device=cpu", "sft.warmup_steps=3",
                                f"sft.backbone={backbone}"]).sft
    # A validation score that changes with the weights, so "best" is decided by real training.
    validate = lambda model: -float(sum(p.detach().abs().sum() for p in model.parameters()))  # noqa: E731
    return train_sft(sequences, vocab, config, validate, out, progress=False)


@pytest.mark.parametrize("backbone", ["tiger", "decoder", "items"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(backbone, office, office_sid, tmp_path):
    _, straight = train(office, office_sid, tmp_path / "straight", epochs=3, backbone=backbone)
    train(office, office_sid, tmp_path / "resumed", epochs=1, backbone=backbone)  # "interrupted" after its first epoch
    _, resumed = train(office, office_sid, tmp_path / "resumed", epochs=3, backbone=backbone)
    assert [e["loss"] for e in resumed["epochs"]] == [e["loss"] for e in straight["epochs"]]
    a = load_file(tmp_path / "straight" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_checkpoint_made_with_other_settings(office, office_sid, tmp_path):
    train(office, office_sid, tmp_path / "run", epochs=1)
    sequences, vocab = small_training(office, office_sid)
    config = load_config(None, [*TINY, "sft.epochs=2", "sft.device=cpu", "sft.lr=0.01"]).sft
    with pytest.raises(ValueError, match="other settings"):
        train_sft(sequences, vocab, config, lambda model: 0.0, tmp_path / "run", progress=False)


@pytest.mark.parametrize("backbone", ["tiger", "decoder", "items"])
def test_two_processes_with_accelerate_launch_on_gloo(backbone, office, office_sid, tmp_path):
    run = tmp_path / "ddp"
    launcher = Path(sys.executable).with_name("accelerate")
    # On a machine without GPUs, `--multi_gpu` is what makes accelerate spawn the processes (torchrun);
    # the trainer sees no GPU and joins them in a gloo group.
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "-m", "deepinterest.cli.main", "sft", "--data", str(office), "--sid",
               str(office_sid), "--out", str(run), "--epochs", "1", *sets([*TINY, f"sft.backbone={backbone}"])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["processes"] == 2
    log = json.loads((run / "train_log.json").read_text())
    assert log["settings"]["processes"] == 2 and len(log["epochs"]) == 1
    assert json.loads((run / "metrics.json").read_text())["test"]["invalid_rate"] == 0.0
    assert len((run / "rankings.jsonl").read_text().splitlines()) == 4905


def test_time_budget_stops_after_the_epoch_that_spends_it_and_keeps_its_weights(office, office_sid, tmp_path):
    sequences, vocab = small_training(office, office_sid)
    # A budget smaller than one epoch: one epoch runs, is validated (though eval_every is 5), and training stops.
    config = load_config(None, [*TINY, "sft.epochs=4", "sft.eval_every=5", "sft.device=cpu", "sft.max_minutes=0.0001"]).sft
    _, log = train_sft(sequences, vocab, config, lambda model: 0.5, tmp_path / "run", progress=False)
    assert len(log["epochs"]) == 1 and log["validations"] == [{"epoch": 1, "valid_ndcg@10": 0.5}]
    assert log["best_epoch"] == 1 and "time budget" in log["stopped"]
    assert "time budget" in json.loads((tmp_path / "run" / "train_log.json").read_text())["stopped"]  # the file says so too
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_decoder_reads_interest_codes_in_its_stream_and_evaluate_rebuilds_them(office, office_sid, tmp_path):
    import polars as pl

    from deepinterest.data.item_text import item_texts

    dataset = PreparedDataset(office)
    # Interests of a real shape: each item's first two title words, as phrases.
    texts = item_texts(dataset, load_config(None, []).tokenizer.text)
    rows = [(item, " ".join(text.split()[i:i + 2])) for item, text in zip(dataset.item_ids, texts) for i in (0, 2)
            if len(text.split()) > i + 1]
    pl.DataFrame(rows, schema=["item", "interest"], orient="row").write_parquet(tmp_path / "interests.parquet")
    run = tmp_path / "run"
    overrides = [*TINY, "sft.backbone=decoder", f"sft.interests={tmp_path / 'interests.parquet'}", "sft.interest_codes=8",
                 "sft.interest_tasks=[sid_to_interests,interests_to_sid,user_interests]"]
    result = CliRunner().invoke(app, ["sft", "--data", str(office), "--sid", str(office_sid), "--out", str(run),
                                      "--epochs", "1", "--device", "cpu", *sets(overrides)])
    assert result.exit_code == 0, result.output
    codes = json.loads((run / "interest_codes.json").read_text())
    assert codes["inline"] and codes["user_codes"] == 0 and codes["n_codes"] == 8
    assert json.loads((run / "metrics.json").read_text())["test"]["invalid_rate"] == 0.0
    before = (run / "rankings.jsonl").read_text()
    assert CliRunner().invoke(app, ["evaluate", "--run", str(run)]).exit_code == 0
    assert (run / "rankings.jsonl").read_text() == before
