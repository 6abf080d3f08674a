"""`deepinterest run` end to end on real Office data: every stage, the report, skipping, redoing.

The LLM here is an OpenAI-style endpoint on localhost that answers every item prompt from the item's
own categories. The real LLMs are tested in test_mining_*; this test needs all 2,420 Office items
mined in seconds, because behaviour labels (RLDI) only exist where co-bought items carry interests.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from category_miner import CategoryMiner, office_pipeline
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import read_json
from deepinterest.evaluation.generative import evaluate_run
from deepinterest.evaluation.rankings import metrics_from_rankings
from deepinterest.serving.report import METRICS


@pytest.fixture(scope="module")
def run_config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    with CategoryMiner() as server:
        config = office_pipeline("office-pipeline-test", folder / "mining.sqlite", server.url, explain=2, sft={
            "d_model": 32, "layers": 1, "heads": 2, "d_kv": 16, "d_ff": 64, "epochs": 1, "eval_every": 1,
            "valid_limit": 300, "batch_size": 512, "beams": 20, "interest_codes": 32,
            "interest_tasks": ["sid_to_interests", "interests_to_sid", "user_interests"]})
        path = folder / "office.yaml"
        path.write_text(yaml.safe_dump(config))
        out = folder / "run"
        first = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
        yield path, out, first


def test_run_writes_every_stage_and_a_report(run_config):
    _, out, first = run_config
    assert first.exit_code == 0, first.output
    for stage in ("data", "mine", "label", "tokenize", "sft"):
        assert (out / stage / "stage.json").exists(), stage
    mined = read_json(out / "mine" / "summary.json")
    assert mined["mined_items"] == mined["items"] == 2420 and mined["valid_rate"] == {"categories": 1.0}
    labelled = read_json(out / "label" / "summary.json")
    assert labelled["labels_by_source"]["behaviour"] > 1000
    # Behaviour labels are neighbour_sim > random match + margin: with neighbour_sim among the features the
    # held-out AUC measures the label's own definition (0.77 here, 0.57 without; test_rldi_leakage.py).
    assert "neighbour_sim" not in labelled["features"] and 0.5 < labelled["auc"] < 0.7, labelled["auc"]
    assert 0 < labelled["kept"] <= labelled["pairs"]
    codes = read_json(out / "sft" / "interest_codes.json")
    assert codes["user_codes"] == 6 and codes["items_with_codes"] > 500
    metrics = read_json(out / "sft" / "metrics.json")
    assert metrics["test"]["invalid_rate"] == 0.0 and metrics["valid"]["invalid_rate"] == 0.0  # the trie holds
    assert metrics["test"]["hr@10"] == pytest.approx(metrics_from_rankings(out / "sft" / "rankings.jsonl")["hr@10"])
    assert metrics["test"]["hr@10"] > 0.0 and metrics["test"]["examples"] == 4905
    report = (out / "report.md").read_text()
    assert_report_numbers(report, out, metrics)
    for section in ("## Test and valid metrics", "## Stages", "## Mining", "## RLDI labels", "## Semantic IDs",
                    "## Explained recommendations"):
        assert section in report
    # Every explained recommendation says why: matching interests, else the closest pair marked weak.
    because = [line for line in report.splitlines() if line.startswith("- because: ")]
    assert len(because) == 2 and all(" ~ " in line or "no kept interests" in line for line in because)
    # The run folder alone rebuilds the model's inputs (interest codes included): same metrics again.
    again = evaluate_run(out / "sft", progress=False)
    assert again["test"] == pytest.approx(metrics["test"])


def report_table(report: str, heading: str, first: str = "| ") -> list[dict[str, str]]:
    """The first markdown table after `heading` in report.md, as rows of {column: cell}."""
    lines = report[report.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def assert_metrics_table(report: str, heading: str, metrics: dict) -> None:
    shown = {row["split"]: row for row in report_table(report, heading, "| split")}
    assert set(shown) == {"valid", "test"}
    for split, row in shown.items():
        assert [float(row[k]) for k in METRICS] == pytest.approx([metrics[split][k] for k in METRICS], abs=5e-5)


def assert_report_numbers(report: str, out, metrics: dict) -> None:
    """Every number report.md shows equals its source: sft/metrics.json, pipeline.json and the stage summaries."""
    assert_metrics_table(report, "## Test and valid metrics", metrics)
    record = read_json(out / "pipeline.json")
    stages = {row["stage"]: row for row in report_table(report, "## Stages")}
    assert list(stages) == list(record["timings"])
    for name, timing in record["timings"].items():
        assert float(stages[name]["seconds"]) == pytest.approx(timing["seconds"], abs=0.0501)
        assert stages[name]["this run"] == ("skipped (unchanged)" if timing["skipped"] else "ran")
    assert f"Time spent in this run: {record['total_seconds']:.0f} s." in report
    labelled = read_json(out / "label" / "summary.json")
    (rldi,) = report_table(report, "## RLDI labels")
    assert [int(rldi["pairs"]), int(rldi["kept"]), int(rldi["labels"])] == [labelled[k] for k in ("pairs", "kept", "labels")]
    assert [float(rldi[k]) for k in ("held-out AUC", "precision", "recall", "mean q")] == pytest.approx(
        [labelled[k] for k in ("auc", "precision", "recall", "mean_q")], abs=5e-5)
    tokenized = read_json(out / "tokenize" / "summary.json")
    (sid,) = report_table(report, "## Semantic IDs")
    assert int(sid["items"]) == tokenized["items"]
    assert float(sid["collision rate"]) == pytest.approx(tokenized["collision_rate"], abs=5e-5)
    mined = read_json(out / "mine" / "summary.json")
    assert f"{mined['mined_items']} of {mined['items']} items have interests ({mined['interests']} after" in report


def test_rerun_skips_unchanged_stages_and_redoes_changed_ones(run_config):
    path, out, _ = run_config
    before = read_json(out / "pipeline.json")["fingerprints"]
    again = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert again.exit_code == 0, again.output
    record = read_json(out / "pipeline.json")
    assert record["fingerprints"] == before and all(t["skipped"] for t in record["timings"].values())

    changed = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--set", "sft.interest_codes=16"])
    assert changed.exit_code == 0, changed.output
    timings = read_json(out / "pipeline.json")["timings"]
    assert [name for name, t in timings.items() if not t["skipped"]] == ["sft"]
    assert read_json(out / "sft" / "interest_codes.json")["n_codes"] == 16


def test_the_collab_reward_trains_its_sasrec_teacher_as_a_stage_before_rl(run_config):
    path, out, _ = run_config
    rl = ["--set", "pipeline.rl=true", "--set", "rl.steps=2", "--set", "rl.batch_size=8", "--set", "rl.group_size=4",
          "--set", "rl.eval_every=1", "--set", "rl.valid_limit=200", "--set", "rl.reward.collab=1.0",
          "--set", "sasrec.epochs=1", "--set", "sasrec.hidden=16"]
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), *rl])
    assert result.exit_code == 0, result.output
    timings = read_json(out / "pipeline.json")["timings"]
    names = list(timings)
    assert names.index("teacher") < names.index("rl") == len(names) - 1 and not timings["teacher"]["skipped"]
    assert timings["tokenize"]["skipped"]  # the reward's teacher changes no SID
    assert read_json(out / "teacher" / "run.json")["model"] == "sasrec"
    rl_log = read_json(out / "rl" / "rl_log.json")
    steps = rl_log["steps"]
    # The reward only ever scores training positions: no valid or test target is an RL example.
    assert rl_log["examples"] == sum(len(s) - 1 for s in PreparedDataset(out / "data").train_sequences)
    assert all(0.0 < s["reward_collab"] <= 1.0 for s in steps)
    report = (out / "report.md").read_text()
    assert "SASRec (`teacher`" in report
    assert_metrics_table(report, "SASRec (`teacher`", read_json(out / "teacher" / "metrics.json"))
    assert_metrics_table(report, "After GRPO", read_json(out / "rl" / "metrics.json"))


def test_collaborative_sids_and_the_decoders_soft_targets_use_the_pipelines_own_sasrec(run_config, tmp_path):
    import shutil

    path, out, _ = run_config
    copy = tmp_path / "run"
    shutil.copytree(out, copy)  # the module's run folder stays as the other tests expect it
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(copy), "--set", "tokenizer.collaborative=true",
                                      "--set", "sasrec.epochs=1", "--set", "sasrec.hidden=16"])
    assert result.exit_code == 0, result.output
    timings = read_json(copy / "pipeline.json")["timings"]
    assert list(timings).index("teacher") < list(timings).index("tokenize") and not timings["tokenize"]["skipped"]
    assert read_json(copy / "tokenize" / "summary.json")["collab"] == str(copy / "teacher")
    # The decoder distils from the same SASRec: only sft (and what follows it) is redone.
    distilled = ["--set", "tokenizer.collaborative=true", "--set", "sasrec.epochs=1", "--set", "sasrec.hidden=16",
                 "--set", "sft.backbone=decoder", "--set", "sft.distill=true", "--set", "sft.teacher_weight=0.9"]
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(copy), *distilled])
    assert result.exit_code == 0, result.output
    redone = [name for name, t in read_json(copy / "pipeline.json")["timings"].items() if not t["skipped"]]
    assert redone == ["sft"]
    trained = read_json(copy / "sft" / "run.json")["config"]["sft"]
    assert trained["teacher"] == str(copy / "teacher") and trained["teacher_weight"] == 0.9
    # The run's own teacher enters tokenize and sft by its path inside the run: a copy of the run redoes nothing.
    shutil.copytree(copy, tmp_path / "copied")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "copied"), *distilled])
    assert result.exit_code == 0, result.output
    assert all(t["skipped"] for t in read_json(tmp_path / "copied" / "pipeline.json")["timings"].values())


def test_a_teacher_the_user_names_enters_rl_by_its_weights(run_config):
    import os
    import shutil

    path, out, _ = run_config
    own = out.parent / "own-teacher"
    shutil.copytree(out / "teacher", own, dirs_exist_ok=True)
    rl = ["--set", "pipeline.rl=true", "--set", "rl.steps=1", "--set", "rl.batch_size=8", "--set", "rl.group_size=4",
          "--set", "rl.eval_every=1", "--set", "rl.valid_limit=100", "--set", "rl.reward.collab=1.0",
          "--set", f"rl.teacher={own}"]

    def redone() -> list[str]:
        result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), *rl])
        assert result.exit_code == 0, result.output
        return [name for name, t in read_json(out / "pipeline.json")["timings"].items() if not t["skipped"]]

    assert redone() == ["rl"] and redone() == []
    weights = own / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # retrained in place: same path, new file
    assert redone() == ["rl"]


def test_a_killed_stage_resumes_only_into_its_own_settings(tmp_path):
    from rich.console import Console

    from deepinterest.pipeline.engine import Pipeline, Stage

    def killed(folder):
        (folder / "partial.txt").write_text("half done")
        time.sleep(0.2)
        raise KeyboardInterrupt

    def finish(folder):
        return {"resumed": (folder / "partial.txt").exists()}

    quiet = Console(quiet=True)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(tmp_path, quiet).run(Stage("sft", {"lr": 1}, [], killed))
    assert read_json(tmp_path / "sft" / "stage.pending.json")["seconds"] >= 0.2  # the killed attempt's time is kept
    assert Pipeline(tmp_path, quiet).run(Stage("sft", {"lr": 1}, [], finish)) == {"resumed": True}
    assert read_json(tmp_path / "sft" / "stage.json")["seconds"] >= 0.2  # and counts in the finished stage's time

    with pytest.raises(KeyboardInterrupt):
        Pipeline(tmp_path / "b", quiet).run(Stage("sft", {"lr": 1}, [], killed))
    assert Pipeline(tmp_path / "b", quiet).run(Stage("sft", {"lr": 2}, [], finish)) == {"resumed": False}

    runs = []
    incomplete = Stage("mine", {}, [], lambda folder: runs.append(1) or {"incomplete": True})
    Pipeline(tmp_path / "c", quiet).run(incomplete)
    Pipeline(tmp_path / "c", quiet).run(incomplete)
    assert len(runs) == 2  # an incomplete stage (failed calls) is never skipped


def test_a_running_stage_keeps_saving_its_elapsed_time(tmp_path, monkeypatch):
    """So a stage killed without a chance to clean up (kill -9, a lost machine) still counts its time."""
    from rich.console import Console

    from deepinterest.pipeline import engine as pipeline

    monkeypatch.setattr(pipeline, "PENDING_TICK_S", 0.02)

    def watch(folder):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if read_json(folder / "stage.pending.json").get("seconds", 0) > 0.1:
                return {"saw_progress": True}
            time.sleep(0.02)
        return {"saw_progress": False}

    assert pipeline.Pipeline(tmp_path, Console(quiet=True)).run(pipeline.Stage("sft", {}, [], watch)) == {"saw_progress": True}


def test_a_moved_run_keeps_its_stages_and_an_older_record_is_recognised(tmp_path):
    """Paths inside the run folder enter a fingerprint relative to it: a moved or copied run skips what it did."""
    import shutil

    from rich.console import Console

    from deepinterest.pipeline.engine import Pipeline, Stage, fingerprint, run_relative

    quiet, runs = Console(quiet=True), []

    def chain(root):
        pipe = Pipeline(root, quiet)
        pipe.run(Stage("teacher", {"hidden": 8}, [], lambda folder: runs.append("teacher") or {}))
        pipe.run(Stage("sft", {"teacher": str(root / "teacher")}, ["teacher"], lambda folder: runs.append("sft") or {}))
        return pipe

    first = chain(tmp_path / "a")
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = chain(tmp_path / "b")
    assert runs == ["teacher", "sft"] and moved.fingerprints == first.fingerprints

    # A record written before paths were made relative (the run's path in full) is skipped, then upgraded.
    old = fingerprint("sft", {"teacher": str(tmp_path / "b" / "teacher")}, [fingerprint("teacher", {"hidden": 8}, [])])
    record = read_json(tmp_path / "b" / "sft" / "stage.json")
    (tmp_path / "b" / "sft" / "stage.json").write_text(json.dumps({**record, "fingerprint": old}))
    chain(tmp_path / "b")
    assert runs == ["teacher", "sft"]
    assert read_json(tmp_path / "b" / "sft" / "stage.json")["fingerprint"] == moved.fingerprints["sft"]
    # Only paths inside the run: a sibling folder whose name starts like the run's is another folder.
    assert run_relative({"t": [str(tmp_path / "b2" / "t"), str(tmp_path / "b" / "t")]}, tmp_path / "b") == \
        {"t": [str(tmp_path / "b2" / "t"), "<run>/t"]}
