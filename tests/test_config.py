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


def test_an_ablation_extends_its_base_and_states_only_what_it_changes(tmp_path):
    from deepinterest.config import load_config

    (tmp_path / "base.yaml").write_text("name: base\nsft: {epochs: 7, lr: 0.002}\npipeline: {explain: 3}\n")
    (tmp_path / "ablation.yaml").write_text("extends: base.yaml\nname: ablation\nsft: {epochs: 9}\npipeline: {rldi: false}\n")
    config = load_config(tmp_path / "ablation.yaml")
    assert config.name == "ablation" and config.sft.epochs == 9 and config.sft.lr == 0.002
    assert config.pipeline.rldi is False and config.pipeline.explain == 3
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ValueError, match="loops"):
        load_config(tmp_path / "loop.yaml")


@pytest.mark.parametrize("row, ablations", [
    ("office-tiger", {"no-interests": {"interests"}, "no-rldi": {"rldi"}, "sid-only": {"interests_in_sft"},
                      "sft-only": {"interests_in_sid"}}),
    ("office", {"no-interests": {"interests"}, "rldi": {"rldi"}, "sid-only": {"interests_in_sid", "interests_in_sft"},
                "sid-and-sft": {"interests_in_sid"}, "rl": {"rl"}})])
def test_shipped_office_ablations_differ_from_their_row_in_its_pipeline_switches_only(row, ablations):
    from pathlib import Path

    from deepinterest.config import load_config

    configs = Path(__file__).parent.parent / "configs"
    default = load_config(configs / f"{row}.yaml")
    for name, switches in ablations.items():
        ablation = load_config(configs / f"{row}-{name}.yaml")
        pipeline, base = ablation.pipeline.model_dump(), default.pipeline.model_dump()
        assert {k for k in base if base[k] != pipeline[k]} == switches, name
        assert ablation.model_dump(exclude={"name", "pipeline"}) == default.model_dump(exclude={"name", "pipeline"}), name


def test_an_override_reaches_into_a_list_by_index():
    from pathlib import Path

    from deepinterest.config import load_config

    office = Path(__file__).parent.parent / "configs" / "office-tiger.yaml"
    config = load_config(office, ["mine.backends.1.max_tokens=200"])
    assert [b.max_tokens for b in config.mine.backends] == [320, 200]
    with pytest.raises(ValueError, match="not an index"):
        load_config(office, ["mine.backends.7.max_tokens=1"])


@pytest.mark.parametrize("override", ["sft.epochs=true", "sft.lr=false", "sasrec.threads=true", "eval.batch_size=yes"])
def test_a_boolean_is_not_taken_for_a_number(override):
    with pytest.raises(ValueError, match="is a boolean; a number is meant here"):
        load_config(None, [override])
    assert load_config(None, ["pipeline.rl=true", "sft.epochs=3"]).sft.epochs == 3
