"""Interests computed elsewhere, read from JSONL, CSV or Parquet as a mining source (`kind: file`), on real Office
items: id matching, several models, unknown items, malformed rows, and `deepinterest run` treating it as mining."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import read_json
from deepinterest.mining.stage import mine


def category_interests(office, items: int = 2420) -> list[dict]:
    """Two 'models' per item from its real categories: the last level, and the one before it."""
    data = PreparedDataset(office)
    rows = []
    for raw, categories in zip(data.item_ids[:items], data.items["categories"].to_list()[:items]):
        levels = [c.strip().lower() for c in (categories or "").split(",") if c.strip()]
        if levels:
            rows.append({"item": raw, "interest": f"{levels[-1]} shopping", "model": "last-level", "confidence": 0.9})
            rows.append({"item": raw, "interest": f"{levels[-1]} shopping", "model": "other-model", "confidence": 0.7})
        if len(levels) > 1:
            rows.append({"item": raw, "interest": f"{levels[-2]} shopping", "model": "other-model", "kind": "textual"})
    return rows


def config(path, **source):
    return load_config(None, [f"mine.backends=[{json.dumps({'name': 'team', 'kind': 'file', 'path': str(path), **source})}]"])


def write_jsonl(path, rows, extra_lines=()):
    path.write_text("\n".join([*(json.dumps(r) for r in rows), *extra_lines]) + "\n")
    return path


def test_a_jsonl_of_two_models_becomes_merged_interests_with_cross_model_support(office, tmp_path):
    rows = category_interests(office, items=300)
    rows.append({"item": "no-such-asin", "interest": "anything"})
    path = write_jsonl(tmp_path / "interests.jsonl", rows)
    summary = mine(office, tmp_path / "mine", config(path), progress=False)
    report = summary["imported"]["team"]
    assert report["rows"] == len(rows) and report["unknown_items"] == 1 and report["unknown_examples"] == ["no-such-asin"]
    assert report["models"] == ["team:last-level", "team:other-model"] and report["malformed"] == 0
    raw = pl.read_parquet(tmp_path / "mine" / "raw_interests.parquet")
    assert set(raw["backend"]) == {"team:last-level", "team:other-model"} and raw.height == report["interests"]
    items = pl.read_parquet(tmp_path / "mine" / "item_interests.parquet")
    assert summary["mined_items"] == items["item"].n_unique() == report["items"] > 250
    # The phrase both "models" gave an item is one interest with support 2 and their mean confidence.
    first = items.filter(pl.col("item") == rows[0]["item"]).sort("support", descending=True).row(0, named=True)
    assert first["interest"] == rows[0]["interest"] and first["support"] == 2 and first["confidence"] == pytest.approx(0.8)


def test_csv_and_parquet_by_dataset_index_match_the_same_items(office, tmp_path):
    data = PreparedDataset(office)
    frame = pl.DataFrame({"item": ["5", "17", "99999"], "interest": ["binding machines", "gel pens", "x"],
                          "confidence": ["0.6", "", "0.5"]})
    frame.write_csv(tmp_path / "a.csv")
    frame.write_parquet(tmp_path / "a.parquet")
    for name in ("a.csv", "a.parquet"):
        summary = mine(office, tmp_path / name.replace(".", "-"), config(tmp_path / name, item_ids="dataset"), progress=False)
        assert summary["imported"]["team"]["unknown_items"] == 1
        items = pl.read_parquet(tmp_path / name.replace(".", "-") / "item_interests.parquet").sort("item")
        assert dict(zip(items["item"], items["interest"])) == {data.item_ids[5]: "binding machines", data.item_ids[17]: "gel pens"}
        assert sorted(items["confidence"].to_list()) == [0.6, 1.0]  # an empty confidence is 1


def test_malformed_rows_are_reported_by_file_and_line_and_nothing_is_written(office, tmp_path):
    good = category_interests(office, items=20)
    path = write_jsonl(tmp_path / "bad.jsonl", good, ['{"item": "3", "interest": ', '{"item": "3", "interest": "ok", "confidence": 7}',
                                                       '{"item": "3", "kind": "smell", "interest": "ok"}', '[1, 2]', '{"item": "3"}'])
    out = tmp_path / "mine"
    result = CliRunner().invoke(app, ["mine", "--data", str(office), "--out", str(out), "--set",
                                      f"mine.backends=[{json.dumps({'name': 'team', 'kind': 'file', 'path': str(path)})}]"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "5 malformed row(s)" in text
    first_bad = len(good) + 1
    for line, why in ((first_bad, "not JSON"), (first_bad + 1, "not a number in 0..1"), (first_bad + 2, "kind 'smell'"),
                      (first_bad + 3, "not a JSON object"), (first_bad + 4, "non-empty item and interest")):
        assert f"bad.jsonl:{line}: " in text and why in text
    assert not out.exists()

    summary = mine(office, out, config(path, on_malformed="skip"), progress=False)
    assert summary["imported"]["team"]["malformed"] == 5 and summary["imported"]["team"]["interests"] > 20
    assert (out / "item_interests.parquet").exists()


def test_a_file_source_needs_a_path_and_a_known_type(tmp_path):
    with pytest.raises(ValueError, match="kind file needs a path"):
        load_config(None, ['mine.backends=[{"name": "team", "kind": "file"}]'])
    (tmp_path / "x.txt").write_text("item,interest\n")
    with pytest.raises(ValueError, match="unknown interests file type"):
        from deepinterest.mining.imported import read_interest_file
        cfg = config(tmp_path / "x.txt")
        read_interest_file(cfg.mine.backends[0], ["0"], cfg.mine)


def test_deepinterest_run_mines_from_a_file_alone_and_redoes_mining_when_it_changes(office, tmp_path):
    path = write_jsonl(tmp_path / "interests.jsonl", category_interests(office))
    settings = {"name": "office-file-interests", "data": {"source": "office"},
                "mine": {"backends": [{"name": "team", "kind": "file", "path": str(path)}]},
                "label": {"sources": ["behaviour"]}, "tokenizer": {"method": "rqkmeans", "codebook_size": 64},
                "sft": {"backbone": "decoder", "d_model": 32, "layers": 1, "heads": 2, "d_ff": 64, "epochs": 1,
                        "batch_size": 64, "valid_limit": 100}, "pipeline": {"explain": 1}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(settings))
    out = tmp_path / "run"
    first = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert read_json(out / "mine" / "summary.json")["imported"]["team"]["items"] > 2000
    labelled = read_json(out / "label" / "summary.json")
    assert labelled["labels_by_source"]["behaviour"] > 1000 and 0 < labelled["kept"] <= labelled["pairs"]
    assert "`team` read from" in (out / "report.md").read_text()

    write_jsonl(path, category_interests(office)[:-3])  # the team's file changed: mining and what follows redo
    again = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "--out", str(out)])
    assert again.exit_code == 0, again.output
    timings = read_json(out / "pipeline.json")["timings"]
    assert not timings["mine"]["skipped"] and timings["data"]["skipped"]
