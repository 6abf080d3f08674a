"""A verb never deletes what it did not write: output folders that are files, the current directory, an input or a
folder holding one, or someone else's folder are refused before any work; our own folders are replaced whole."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from deepinterest.cli.main import app


@pytest.fixture
def csv_data(tmp_path):
    """Interactions in the CSV format, 5-core after filtering: 6 users x 6 items, every user bought every item."""
    folder = tmp_path / "mine"
    folder.mkdir()
    rows = [f"u{u},i{i},{u * 10 + i}" for u in range(6) for i in range(6)]
    (folder / "interactions.csv").write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    return folder


def prepare(path, out):
    result = CliRunner().invoke(app, ["data", "prepare", "--format", "csv", "--path", str(path), "--out", str(out)])
    return result.exit_code, " ".join(result.output.split())


def test_an_output_folder_that_holds_the_input_is_refused_and_the_input_stays(csv_data):
    before = (csv_data / "interactions.csv").read_text()
    for out in (csv_data, csv_data.parent):
        code, text = prepare(csv_data, out)
        assert code == 2 and "would replace an input" in text
    assert (csv_data / "interactions.csv").read_text() == before


def test_someone_elses_folder_a_file_and_the_current_folder_are_refused(csv_data, tmp_path, monkeypatch):
    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine, not yours")
    code, text = prepare(csv_data, theirs)
    assert code == 2 and "did not write" in text and (theirs / "notes.txt").read_text() == "mine, not yours"

    a_file = tmp_path / "result.parquet"
    a_file.write_bytes(b"data")
    code, text = prepare(csv_data, a_file)
    assert code == 2 and "is a file" in text and a_file.read_bytes() == b"data"

    monkeypatch.chdir(theirs)
    code, text = prepare(csv_data, ".")
    assert code == 2 and "current folder" in text
    assert sorted(os.listdir(theirs)) == ["notes.txt"]  # no .partial or .old folders left behind


def test_our_own_folder_is_replaced_whole_and_an_empty_one_is_used(csv_data, tmp_path):
    out = tmp_path / "prepared"
    assert prepare(csv_data, out)[0] == 0
    assert (out / ".deepinterest").exists() and (out / "summary.json").exists()
    (out / "leftover.txt").write_text("from an older run")  # inside our folder: replaced with it
    assert prepare(csv_data, out)[0] == 0
    assert not (out / "leftover.txt").exists() and (out / "items.parquet").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare(csv_data, empty)[0] == 0 and (empty / "summary.json").exists()


def test_a_folder_another_verb_wrote_is_not_replaced(csv_data, tmp_path):
    """Ours, but not this verb's: `data prepare --out` on mined interests would lose them."""
    from deepinterest.data.io import atomic_dir

    mined = tmp_path / "mined"
    with atomic_dir(mined, kind="mine") as stage:
        (stage / "item_interests.parquet").write_bytes(b"interests")
    code, text = prepare(csv_data, mined)
    assert code == 2 and "holds a deepinterest mine output, not a data one" in text
    assert (mined / "item_interests.parquet").read_bytes() == b"interests"

    prepared = tmp_path / "prepared"
    assert prepare(csv_data, prepared)[0] == 0
    assert "(kind: data)" in (prepared / ".deepinterest").read_text()
    (prepared / ".deepinterest").write_text("written by deepinterest\n")  # a marker from before kinds: still ours
    assert prepare(csv_data, prepared)[0] == 0


def test_a_run_never_takes_over_someone_elses_folder_or_a_stage_named_folder_of_theirs(tmp_path):
    from rich.console import Console

    from deepinterest.data.io import OutputFolderError
    from deepinterest.pipeline.engine import Pipeline, Stage

    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    config = tmp_path / "run.yaml"
    config.write_text("data: {source: office}\n")
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(theirs)])
    assert result.exit_code == 2 and "did not write" in " ".join(result.output.split())
    assert sorted(os.listdir(theirs)) == ["notes.txt"]

    # Inside a run folder, a "data" folder that no stage wrote is not redone (deleted) either.
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "interactions.csv").write_text("user,item\n")
    with pytest.raises(OutputFolderError, match="did not write"):
        Pipeline(run, Console(quiet=True)).run(Stage("data", {}, [], lambda folder: {}))
    assert (run / "data" / "interactions.csv").read_text() == "user,item\n"


def test_training_verbs_never_write_into_someone_elses_folder_or_over_their_input(office, office_sid, tmp_path):
    """sft, rl and baseline write into their folder as they train: it must be new, empty or theirs already."""
    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "model.safetensors").write_bytes(b"my weights")

    def cli(*args):
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, " ".join(result.output.split())

    for verb in (["sft", "--data", str(office), "--sid", str(office_sid)], ["baseline", "sasrec", "--data", str(office)],
                 ["baseline", "pop", "--data", str(office)]):
        code, text = cli(*verb, "--out", str(theirs))
        assert code == 2 and "did not write" in text, (verb, text)
    code, text = cli("baseline", "pop", "--data", str(office), "--out", str(office.parent))
    assert code == 2 and "would replace an input" in text
    assert sorted(os.listdir(theirs)) == ["model.safetensors"] and (theirs / "model.safetensors").read_bytes() == b"my weights"

    pop = tmp_path / "pop"
    code, text = cli("baseline", "pop", "--data", str(office), "--out", str(pop), "--set", "eval.ks=[10]")
    assert code == 0, text
    assert "(kind: pop)" in (pop / ".deepinterest").read_text() and (pop / "metrics.json").exists()
    code, text = cli("baseline", "pop", "--data", str(office), "--out", str(pop), "--set", "eval.ks=[10]")
    assert code == 0, text  # its own folder: run again in place

    sft = tmp_path / "sft"  # a finished SFT run as rl finds it; rl must not write its policy over it
    sft.mkdir()
    (sft / "run.json").write_text("{}")
    (sft / "model.safetensors").write_bytes(b"sft weights")
    (sft / ".deepinterest").write_text("written by deepinterest (kind: sft)\n")
    for out in (sft, pop):
        code, text = cli("rl", "--sft", str(sft), "--out", str(out))
        assert code == 2 and ("would replace an input" in text or "not a rl one" in text), text
    assert (sft / "model.safetensors").read_bytes() == b"sft weights"
