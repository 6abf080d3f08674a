"""Behavioural interests on real Office: from the training split only, informative, and a shuffled control."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.data.dataset import PreparedDataset
from deepinterest.mining.behavioural import behavioural_interests


def test_no_valid_or_test_interaction_reaches_the_interests(office, tmp_path):
    """Rewrite every valid and test target (and the full sequences) at random: the interests do not change."""
    copy = tmp_path / "office"
    shutil.copytree(office, copy)
    rng = np.random.default_rng(0)
    n_items = PreparedDataset(office).n_items
    examples = pl.read_parquet(copy / "examples.parquet")
    examples.with_columns(pl.Series("target", rng.integers(0, n_items, examples.height), dtype=pl.Int32)).write_parquet(
        copy / "examples.parquet")
    sequences = pl.read_parquet(copy / "sequences.parquet")
    scrambled = [train + rng.integers(0, n_items, 2).tolist() for train in sequences["train"].to_list()]
    sequences.with_columns(pl.Series("items", scrambled, dtype=pl.List(pl.Int32))).write_parquet(copy / "sequences.parquet")
    assert PreparedDataset(copy).examples("test").targets.tolist() != PreparedDataset(office).examples("test").targets.tolist()
    assert behavioural_interests(PreparedDataset(copy)) == behavioural_interests(PreparedDataset(office))


def test_items_bought_together_share_interests_and_the_shuffled_control_breaks_that(office):
    data = PreparedDataset(office)
    index = {raw: i for i, raw in enumerate(data.item_ids)}

    def agreement(rows):
        fine = {index[r["item"]]: r["interest"] for r in rows if r["model"] == "behaviour-fine"}
        pairs = [(a, b) for seq in data.train_sequences for a, b in zip(seq, seq[1:]) if a in fine and b in fine and a != b]
        return np.mean([fine[a] == fine[b] for a, b in pairs])

    informative, shuffled = behavioural_interests(data), behavioural_interests(data, shuffle=True)
    assert {r["model"] for r in informative} == {"behaviour-coarse", "behaviour-fine"}
    assert len({r["item"] for r in informative}) > 2300
    # Same phrases, same counts, different owners.
    assert sorted(r["interest"] for r in informative) == sorted(r["interest"] for r in shuffled)
    assert agreement(informative) > 0.15 > 0.05 > agreement(shuffled)


def test_the_cli_writes_the_interests_file_format_and_never_overwrites_by_surprise(office, tmp_path):
    out = tmp_path / "behaviour.jsonl"
    first = CliRunner().invoke(app, ["behaviour-interests", "--data", str(office), "--out", str(out)])
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(set(r) == {"item", "interest", "model", "confidence"} and 0 < r["confidence"] <= 1 for r in rows)
    again = CliRunner().invoke(app, ["behaviour-interests", "--data", str(office), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
