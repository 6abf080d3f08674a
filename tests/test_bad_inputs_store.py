"""Issue 21, continued: `cache import` of what is no export file (or into what is no store), output files that
share one mode, and stages redone when a file they read outside the run changes (its content, not its name)."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import ExperimentConfig
from deepinterest.data.io import write_json
from deepinterest.mining.parse import Interest
from deepinterest.mining.store import CallRecord, MiningStore, call_key
from deepinterest.pipeline import engine, method
from deepinterest.pipeline.engine import Pipeline, Stage, fingerprint
from test_bad_inputs import cli, csv, prepare, rows  # noqa: F401 - cli is a fixture

CALL = {"key": call_key("b", "m", "v1", "text"), "backend": "b", "model": "m", "prompt_version": "v1", "item": "i1",
        "kind": "item", "raw_text": "answer", "prompt_tokens": 3, "completion_tokens": 4, "seconds": 0.5, "error": None,
        "created": "2024-01-01T00:00:00+00:00", "interests": [["tea", 0.9, "says so"]]}


@pytest.fixture
def store(tmp_path) -> Path:
    """A store with one call, and its bytes as they were."""
    path = tmp_path / "store.sqlite"
    with MiningStore(path) as db:
        db.put(CallRecord(**{k: v for k, v in CALL.items() if k != "interests"}), [Interest("old", 0.5, "")])
    return path


def export_file(tmp_path: Path, *lines: dict | str, name: str = "calls.jsonl.gz") -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    return tmp_path / name


def import_into(cli, store: Path, file: Path) -> tuple[int, str]:  # noqa: F811 - the fixture, passed on
    before = store.read_bytes() if store.exists() else None
    code, text = cli("cache", "import", str(file), "--store", str(store))
    assert (store.read_bytes() if store.exists() else None) == before  # untouched: cli also checks every other file
    return code, text


def test_cache_import_of_a_file_that_is_not_gzip_is_refused(cli, store, tmp_path):  # noqa: F811
    (tmp_path / "plain.jsonl.gz").write_text(json.dumps(CALL) + "\n")
    code, text = import_into(cli, store, tmp_path / "plain.jsonl.gz")
    assert code == 2 and "plain.jsonl.gz: not a complete `deepinterest cache export` file" in text


def test_cache_import_of_a_truncated_file_is_refused_and_adds_nothing(cli, store, tmp_path):  # noqa: F811
    calls = [dict(CALL, key=call_key("b", "m", "v1", str(n))) for n in range(200)]
    whole = export_file(tmp_path, *calls).read_bytes()
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    code, text = import_into(cli, store, tmp_path / "cut.jsonl.gz")
    assert code == 2 and "cut.jsonl.gz: not a complete" in text


def test_cache_import_of_a_corrupt_line_names_the_line(cli, store, tmp_path):  # noqa: F811
    file = export_file(tmp_path, dict(CALL, key=call_key("x", "m", "v1", "t")), "{not json")
    code, text = import_into(cli, store, file)
    assert code == 2 and "calls.jsonl.gz:2: not a mining-cache line" in text


@pytest.mark.parametrize("field, value", [("prompt_tokens", "many"), ("raw_text", 5), ("seconds", True),
                                          ("interests", [["tea", "high", "why"]]), ("item", None)])
def test_cache_import_of_a_value_of_the_wrong_type_is_refused(cli, store, tmp_path, field, value):  # noqa: F811
    file = export_file(tmp_path, dict(CALL, key=call_key("y", "m", "v1", "t"), **{field: value}))
    code, text = import_into(cli, store, file)
    assert code == 2 and "calls.jsonl.gz:1:" in text and (field in text or "interest" in text)


def test_cache_import_into_a_file_that_is_not_sqlite_is_refused(cli, tmp_path):  # noqa: F811
    (tmp_path / "notes.sqlite").write_text("my notes, not a database\n")
    code, text = import_into(cli, tmp_path / "notes.sqlite", export_file(tmp_path, CALL))
    assert code == 2 and "notes.sqlite: not a mining store" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.jsonl.gz", "notes.sqlite"]  # no -wal, no -shm


def test_cache_import_of_a_bad_file_creates_no_store(cli, tmp_path):  # noqa: F811
    (tmp_path / "bad.jsonl.gz").write_bytes(b"\x1f\x8b garbage")
    code, text = import_into(cli, tmp_path / "new.sqlite", tmp_path / "bad.jsonl.gz")
    assert code == 2 and not (tmp_path / "new.sqlite").exists()


def test_a_good_import_still_adds_only_missing_calls(store, tmp_path):
    new = dict(CALL, key=call_key("z", "m", "v1", "t"))
    result = CliRunner().invoke(app, ["cache", "import", str(export_file(tmp_path, CALL, new)), "--store", str(store)])
    assert result.exit_code == 0 and "1 calls added, 1 already stored" in result.output


def test_output_files_share_one_permission_mode(cli, tmp_path):  # noqa: F811
    code, text = prepare(cli, csv(tmp_path, rows()))
    assert code == 0, text
    out = tmp_path / "out"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert len(set(modes.values())) == 1, modes
    umask = os.umask(0)
    os.umask(umask)
    assert set(modes.values()) == {0o666 & ~umask}
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # the folder too, not mkdtemp's 0700


def test_weights_and_checkpoints_share_the_mode_too(tmp_path):
    """safetensors writes private (0600) files; ours end up like every other output file."""
    import torch

    from deepinterest.training.checkpoint import save_checkpoint, save_weights

    model = torch.nn.Linear(3, 2)
    save_weights(tmp_path / "model.safetensors", model)
    save_checkpoint(tmp_path / "checkpoint", model, torch.optim.Adam(model.parameters()), {"epoch": 1})
    umask = os.umask(0)
    os.umask(umask)
    files = [tmp_path / "model.safetensors", *(p for p in (tmp_path / "checkpoint").iterdir())]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o666 & ~umask for p in files}


def two_stages(root: Path, source: Path, runs: list[str]) -> Pipeline:
    """`first` reads `source` (outside the run); `second` reads `first`."""
    pipe = Pipeline(root, Console(quiet=True))
    pipe.run(Stage("first", {"k": 1}, [], lambda f: runs.append("first") or {}, [source]))
    pipe.run(Stage("second", {"k": 2}, ["first"], lambda f: runs.append("second") or {}))
    return pipe


def test_a_stage_is_redone_when_the_content_of_its_source_changes(tmp_path):
    source, runs = tmp_path / "interactions.csv", []
    source.write_text("u,i,1\n")
    two_stages(tmp_path / "run", source, runs)
    two_stages(tmp_path / "run", source, runs)
    assert runs == ["first", "second"]  # unchanged: skipped
    stamp = source.stat()
    source.write_text("u,j,1\n")  # same size, and the same mtime: only the content tells
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    two_stages(tmp_path / "run", source, runs)
    assert runs == ["first", "second", "first", "second"]  # and everything downstream of it
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # touched, not changed: skipped
    two_stages(tmp_path / "run", source, runs)
    assert runs == ["first", "second", "first", "second"]


def test_a_folder_source_counts_every_file_in_it(tmp_path):
    folder, runs = tmp_path / "office", []
    folder.mkdir()
    (folder / "Office.inter.json").write_text("{}")
    two_stages(tmp_path / "run", folder, runs)
    (folder / "Office.item.json").write_text("{}")
    two_stages(tmp_path / "run", folder, runs)
    assert runs == ["first", "second", "first", "second"]


def test_a_run_recorded_before_sources_were_fingerprinted_is_not_redone_for_it(tmp_path):
    source, runs = tmp_path / "interactions.csv", []
    source.write_text("u,i,1\n")
    old = fingerprint("first", {"k": 1}, [])  # what the engine wrote before: settings and inputs only
    (tmp_path / "run" / "first").mkdir(parents=True)
    write_json(tmp_path / "run" / "first" / "stage.json", {"fingerprint": old, "seconds": 1.0, "summary": {}})
    pipe = two_stages(tmp_path / "run", source, runs)
    assert runs == ["second"] and pipe.fingerprints["first"] == old  # kept, and now with its source recorded
    source.write_text("u,i,2\n")
    two_stages(tmp_path / "run", source, runs)
    assert runs == ["second", "first", "second"]


def test_the_data_stage_of_a_run_fingerprints_its_source(tmp_path, monkeypatch):
    seen = []

    def capture(self, stage):
        seen.append(stage)
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "run", capture)
    config = ExperimentConfig.model_validate({"data": {"format": "csv", "path": str(tmp_path / "src")}})
    with pytest.raises(KeyboardInterrupt):
        method.run_pipeline(config, tmp_path / "run", progress=False)
    assert seen[0].name == "data" and seen[0].sources == [tmp_path / "src"]
    assert engine.content_digest(tmp_path / "missing") is None


def test_cache_export_of_one_backend_writes_only_its_calls(cli, store, tmp_path):  # noqa: F811
    with MiningStore(store) as db:  # a second backend beside the fixture's `b`
        db.put(CallRecord(**{k: v for k, v in CALL.items() if k != "interests"} | {"key": call_key("q", "m", "v1", "t"),
                                                                                  "backend": "q"}), [])
    for only, expected in ((["--backend", "q"], {"q"}), ([], {"b", "q"}), (["-b", "zz"], set())):
        out = tmp_path / "out" / f"export-{'-'.join(only)}.jsonl.gz"  # the fixture checks nothing else is written
        code, text = cli("cache", "export", str(out), "--store", str(store), *only)
        assert code == 0, text
        lines = [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
        assert {line["backend"] for line in lines} == expected and f"{len(lines)} calls" in text


def test_cache_export_never_replaces_a_file_it_did_not_write(cli, store, tmp_path):  # noqa: F811
    notes = tmp_path / "notes.jsonl.gz"
    notes.write_bytes(b"my own notes")  # cli checks that it, like every file outside out/, stays as it was
    code, text = cli("cache", "export", str(notes), "--store", str(store))
    assert code == 2 and "notes.jsonl.gz: exists and is not a `deepinterest cache export` file" in text
    code, text = cli("cache", "export", str(tmp_path), "--store", str(store))
    assert code == 2 and "is not a file this command wrote" in text


def test_cache_export_replaces_an_earlier_export_whole(cli, store, tmp_path):  # noqa: F811
    out = tmp_path / "out" / "calls.jsonl.gz"
    assert cli("cache", "export", str(out), "--store", str(store), "-b", "zz")[0] == 0  # an empty export first
    code, text = cli("cache", "export", str(out), "--store", str(store))
    assert code == 0 and "1 calls" in text
    assert [json.loads(line)["key"] for line in gzip.decompress(out.read_bytes()).splitlines()] == [CALL["key"]]
    assert [p.name for p in out.parent.iterdir()] == ["calls.jsonl.gz"]  # no temporary file left beside it


def test_cache_export_from_a_missing_store_is_refused_and_creates_none(cli, tmp_path):  # noqa: F811
    code, text = cli("cache", "export", str(tmp_path / "out" / "calls.jsonl.gz"), "--store", str(tmp_path / "typo.sqlite"))
    assert code == 2 and "typo.sqlite: no mining store there; nothing to export" in text
    assert not (tmp_path / "typo.sqlite").exists() and not (tmp_path / "out").exists()
