"""report.md against a run without interests: the valid and test differences with paired intervals, and a
verdict read from valid only. Rankings in the real file format, built around Office's own users."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.serving.report import _against_baseline, final_model

USERS = 600


def write_model(folder: Path, dataset: PreparedDataset, hit_every: dict[str, int]) -> None:
    """A model folder whose target sits at rank 1 for every `hit_every[split]`-th user, else outside the list."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    items = dataset.item_ids
    for split, name in (("valid", "valid_rankings.jsonl"), ("test", "rankings.jsonl")):
        examples = dataset.examples(split)
        with open(folder / name, "w") as out:
            for n, (user, target) in enumerate(zip(examples.users[:USERS], examples.targets[:USERS])):
                others = [items[i] for i in range(30) if i != target][:20]
                ranked = [items[target], *others[:19]] if n % hit_every[split] == 0 else others
                out.write(json.dumps({"user": dataset.user_ids[user], "target": items[target], "ranked": ranked}) + "\n")


@pytest.mark.parametrize("ours, verdict", [(2, "**win** on valid"), (6, "**lose** on valid"), (3, "**tie** on valid")])
def test_the_report_states_the_valid_difference_and_its_verdict(office, tmp_path, ours, verdict):
    dataset = PreparedDataset(office)
    write_model(tmp_path / "baseline" / "sft", dataset, {"valid": 3, "test": 3})
    write_model(tmp_path / "run" / "sft", dataset, {"valid": ours, "test": 3})
    if ours == 3:  # a tie: the same hits, one user moved
        rows = (tmp_path / "run" / "sft" / "valid_rankings.jsonl").read_text().splitlines()
        first = json.loads(rows[1])
        first["ranked"] = [first["target"], *first["ranked"][:19]]
        rows[1] = json.dumps(first)
        (tmp_path / "run" / "sft" / "valid_rankings.jsonl").write_text("\n".join(rows) + "\n")
    config = ExperimentConfig(pipeline={"baseline": str(tmp_path / "baseline"), "rl": False})
    text = "\n".join(_against_baseline(tmp_path / "run", config))
    assert verdict in text
    expected = {2: 1 / 2 - 1 / 3, 6: 1 / 6 - 1 / 3}.get(ours)
    valid_row = next(line for line in text.splitlines() if line.startswith("| valid"))
    if expected is not None:
        assert f"{expected:+.4f}" in valid_row
    test_row = next(line for line in text.splitlines() if line.startswith("| test"))
    assert "+0.0000 [+0.0000, +0.0000]" in test_row


def test_a_baseline_without_valid_rankings_is_named_not_a_crash(office, tmp_path):
    dataset = PreparedDataset(office)
    write_model(tmp_path / "baseline" / "sft", dataset, {"valid": 3, "test": 3})
    write_model(tmp_path / "run" / "sft", dataset, {"valid": 3, "test": 3})
    (tmp_path / "baseline" / "sft" / "valid_rankings.jsonl").unlink()
    config = ExperimentConfig(pipeline={"baseline": str(tmp_path / "baseline"), "rl": False})
    text = "\n".join(_against_baseline(tmp_path / "run", config))
    assert "valid_rankings.jsonl is missing" in text and "Verdict" not in text
    assert "| test" in text


def test_final_model_prefers_rl_then_sft(tmp_path):
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "metrics.json").write_text("{}")
    assert final_model(tmp_path) == tmp_path / "sft"
    (tmp_path / "rl").mkdir()
    (tmp_path / "rl" / "metrics.json").write_text("{}")
    assert final_model(tmp_path) == tmp_path / "rl"
    assert final_model(tmp_path, rl=False) == tmp_path / "sft"
    assert final_model(tmp_path / "sft") == tmp_path / "sft"


def test_a_missing_baseline_is_refused_before_any_stage(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "configs/demo.yaml", "--out", str(out),
                                      "--set", f"pipeline.baseline={tmp_path / 'nowhere'}"])
    assert result.exit_code == 2, result.output
    assert "pipeline.baseline" in result.output and "nowhere" in result.output
    assert not out.exists()
