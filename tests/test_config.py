import pytest
from pydantic import ValidationError

from deepinterest.config import load_config


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: t\ndata:\n  source: office\nsasrec:\n  hidden: 32\n")
    cfg = load_config(path, ["sasrec.hidden=48", "eval.ks=[1, 10]", "data.dedup_consecutive=true"])
    assert cfg.sasrec.hidden == 48 and cfg.eval.ks == [1, 10] and cfg.data.dedup_consecutive is True


def test_unknown_keys_and_bad_values_fail():
    with pytest.raises(ValidationError):
        load_config(None, ["sasrec.hiden=3"])
    with pytest.raises(ValidationError):
        load_config(None, ["data.source=office", "data.split=random"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(None, ["sasrec.hidden"])


def test_data_needs_a_source_or_a_format_and_path():
    with pytest.raises(ValidationError, match="registered"):
        load_config(None, ["data.kcore=3"])


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)
