"""`kind: behaviour` in mine.backends: behavioural interests computed inside the mining stage from the run's
own training split, the same rows as the `behaviour-interests` file read back as `kind: file`."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import ExperimentConfig
from deepinterest.mining.stage import mine


def config_with(*backends: dict) -> ExperimentConfig:
    return ExperimentConfig(mine={"backends": list(backends)})


def test_the_behaviour_source_equals_its_file_read_back(office, tmp_path):
    file = tmp_path / "behaviour.jsonl"
    made = CliRunner().invoke(app, ["behaviour-interests", "--data", str(office), "--out", str(file), "--seed", "0"])
    assert made.exit_code == 0, made.output
    computed = mine(office, tmp_path / "computed", config_with({"name": "behaviour", "kind": "behaviour", "seed": 0}),
                    progress=False)
    read = mine(office, tmp_path / "read", config_with({"name": "behaviour", "kind": "file", "path": str(file)}),
                progress=False)
    for table in ("raw_interests.parquet", "item_interests.parquet"):
        assert_frame_equal(pl.read_parquet(tmp_path / "computed" / table), pl.read_parquet(tmp_path / "read" / table))
    report = computed["imported"]["behaviour"]
    assert report["models"] == ["behaviour:behaviour-coarse", "behaviour:behaviour-fine"]
    assert report["items"] > 2300 and report["malformed"] == 0 and report["unknown_items"] == 0
    assert computed["mined_items"] == read["mined_items"] and computed["calls"] == 0


def test_a_behaviour_source_needs_no_model_and_cannot_judge(office, tmp_path):
    from deepinterest.labeling.labels import judge_labels

    config = config_with({"name": "behaviour", "kind": "behaviour"})
    assert config.mine.backends[0].model is None
    with pytest.raises(ValueError, match="no mine.backends entry is an LLM"):
        judge_labels(pl.DataFrame({"item": ["x"], "interest": ["tea"]}), {}, config, progress=False)
