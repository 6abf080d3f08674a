"""Pop and SASRec through the shared harness on the real Office set."""

import json

import numpy as np
import pytest

from deepinterest.config import ExperimentConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.evaluation.baselines import run_pop, run_sasrec
from deepinterest.evaluation.harness import Evaluator, ScoreRanker
from deepinterest.evaluation.rankings import metrics_from_rankings

METRIC_KEYS = {f"{m}@{k}" for m in ("hr", "ndcg") for k in (1, 5, 10, 20)}


def test_pop_writes_metrics_and_rankings_that_recompute(office, tmp_path):
    results = run_pop(office, tmp_path, ExperimentConfig(), progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved) == {"valid", "test"} and METRIC_KEYS <= set(saved["test"])
    assert saved == json.loads(json.dumps(results))
    rows = [json.loads(line) for line in (tmp_path / "rankings.jsonl").read_text().splitlines()]
    assert len(rows) == 4905 and all(len(set(r["ranked"])) == 20 for r in rows)
    data = PreparedDataset(office)
    counts = data.train_popularity
    top = np.argsort(-counts, kind="stable")[:20]
    assert rows[0]["ranked"] == [data.item_ids[i] for i in top]
    recomputed = metrics_from_rankings(tmp_path / "rankings.jsonl")
    for key, value in recomputed.items():
        assert saved["test"][key] == pytest.approx(value)
    assert saved["test"]["pop_percentile@10"] > 0.99
    assert saved["test"]["coverage@10"] == pytest.approx(10 / 2420)


def test_exclude_history_never_ranks_seen_items(office):
    data = PreparedDataset(office)
    ranker = ScoreRanker(lambda users, histories: __import__("torch").as_tensor(
        np.tile(data.train_popularity.astype(np.float32), (len(histories), 1))), exclude_history=True)
    result = Evaluator(data).run(ranker, "test", progress=False, limit=300)
    for history, ranked in zip(result.examples.histories, result.ranked):
        assert not set(history) & set(ranked.tolist())


def test_sasrec_learns_and_resumes_exactly(office, tmp_path):
    overrides = ["sasrec.hidden=32", "sasrec.batch_size=256", "sasrec.dropout=0.2", "sasrec.lr=0.005", "sasrec.threads=2"]
    straight = load_config(None, [*overrides, "sasrec.epochs=3"])
    results = run_sasrec(office, tmp_path / "straight", straight, progress=False)
    log = json.loads((tmp_path / "straight" / "train_log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3]
    pop = run_pop(office, tmp_path / "pop", ExperimentConfig(), progress=False)
    assert results["valid"]["ndcg@10"] > 3 * pop["valid"]["ndcg@10"]  # it learned something

    # Stop after 2 epochs, then resume to 3: the same weights as the run that never stopped.
    run_sasrec(office, tmp_path / "resumed", load_config(None, [*overrides, "sasrec.epochs=2"]), progress=False)
    resumed = run_sasrec(office, tmp_path / "resumed", load_config(None, [*overrides, "sasrec.epochs=3"]), progress=False)
    resumed_log = json.loads((tmp_path / "resumed" / "train_log.json").read_text())
    assert [e["loss"] for e in resumed_log["epochs"]] == [e["loss"] for e in log["epochs"]]
    assert resumed["test"]["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])


def test_resume_with_other_settings_is_refused(office, tmp_path):
    cfg = load_config(None, ["sasrec.hidden=16", "sasrec.epochs=1"])
    run_sasrec(office, tmp_path, cfg, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        run_sasrec(office, tmp_path, load_config(None, ["sasrec.hidden=24", "sasrec.epochs=2"]), progress=False)
