"""Every user mistake gets one clear line and exit code 2, never a traceback, and touches nothing but our output.

Each test runs the real CLI in a scratch folder, checks the exit code, that the message names the file, option,
field or line at fault, and that no file outside the command's own output changed (issue 21). The cache, the
fingerprints and permission cases are in test_bad_inputs_store.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepinterest.cli.main import app


def snapshot(root: Path, skip: str | None = None) -> dict[str, bytes]:
    """Every file under root (but the output folder `skip`) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not (skip and p.relative_to(root).parts[0] == skip)}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run `deepinterest ARGS` in tmp_path; returns (exit code, output as one line) and checks that nothing
    outside the output folder `out` was written, and that no traceback was printed."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> tuple[int, str]:
        before = snapshot(tmp_path, skip="out")
        result = CliRunner().invoke(app, list(args))
        text = " ".join(result.output.split())
        assert "Traceback" not in text
        assert result.exception is None or isinstance(result.exception, SystemExit), text
        assert snapshot(tmp_path, skip="out") == before
        return result.exit_code, text

    return invoke


def csv(tmp_path: Path, body: bytes, name: str = "src") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "interactions.csv").write_bytes(b"user,item,timestamp\n" + body)
    return folder


def rows(users: int = 4, items: int = 12) -> bytes:
    """Every user bought every item, one second apart: plenty of training examples, 12 items."""
    return "".join(f"u{u},i{i},{1000 + u * 100 + i}\n" for u in range(users) for i in range(items)).encode()


def prepare(cli, folder: Path, *extra: str) -> tuple[int, str]:
    return cli("data", "prepare", "--format", "csv", "--path", str(folder), "--out", "out", "--kcore", "0", *extra)


def test_malformed_yaml_names_the_file_line_and_column(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("data:\n  kcore: [5\n  split: loo\n")
    code, text = cli("data", "prepare", "office", "-c", "bad.yaml", "--out", "out")
    assert code == 2 and "bad.yaml:3:" in text and "malformed YAML" in text


def test_malformed_set_names_the_option_and_the_column(cli):
    code, text = cli("data", "prepare", "office", "--out", "out", "--set", "data.kcore=[1,")
    assert code == 2 and "--set 'data.kcore=[1,'" in text and "column 15" in text
    code, text = cli("data", "prepare", "office", "--out", "out", "--set", "data.kcore")
    assert code == 2 and "'data.kcore' is not of the form key=value" in text


def test_a_boolean_for_a_number_is_refused(cli):
    code, text = cli("data", "prepare", "office", "--out", "out", "--set", "sft.epochs=true")
    assert code == 2 and "epochs: true is a boolean; a number is meant here" in text


def test_extends_of_a_missing_file_says_it_came_from_extends(cli, tmp_path):
    (tmp_path / "ablation.yaml").write_text("extends: base.yaml\nseed: 3\n")
    code, text = cli("data", "prepare", "office", "-c", "ablation.yaml", "--out", "out")
    assert code == 2 and "ablation.yaml: `extends: base.yaml` names" in text and "does not exist" in text


def test_a_yaml_alias_bomb_is_refused_fast(cli, tmp_path):
    lines, previous = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'], "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
        previous = name
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    code, text = cli("data", "prepare", "office", "-c", "bomb.yaml", "--out", "out")
    assert time.perf_counter() - started < 5
    assert code == 2 and "bomb.yaml:2:" in text and "aliases (*name) are not allowed" in text


def test_csv_bytes_that_are_not_utf8_name_the_file_and_line(cli, tmp_path):
    folder = csv(tmp_path, b"u1,i1,1000\nu1,\xff\xfe,1001\n")
    code, text = prepare(cli, folder)
    assert code == 2 and "interactions.csv:3: not UTF-8" in text and not (tmp_path / "out").exists()


def test_a_csv_line_with_too_many_fields_names_the_file_and_line(cli, tmp_path):
    folder = csv(tmp_path, b"u1,i1,1000\nu1,i2,1001\nu1,i3,1002,oops\n")
    code, text = prepare(cli, folder)
    assert code == 2 and "interactions.csv:4: 4 fields, but the header has 3" in text


@pytest.mark.parametrize("value", ["NaN", "inf", "-inf", "-5", "1e300", "1960-01-01T00:00:00"])
def test_timestamps_that_are_no_time_are_refused_with_the_line(cli, tmp_path, value):
    body = rows(2, 3)
    if "T" in value:  # a column of date-times: the others are date-times too
        body = "".join(f"u{u},i{i},2020-01-0{i + 1}T00:00:00\n" for u in range(2) for i in range(3)).encode()
    folder = csv(tmp_path, body + f"u1,i9,{value}\n".encode())
    code, text = prepare(cli, folder)
    assert code == 2 and "interactions.csv:8: timestamp" in text and repr(value) in text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1"])
def test_json_timestamps_that_are_no_time_are_refused_with_the_line(cli, tmp_path, value):
    folder = tmp_path / "src"
    folder.mkdir()
    lines = [json.dumps({"reviewerID": "u", "asin": f"i{i}", "unixReviewTime": 1000 + i}) for i in range(3)]
    lines.append('{"reviewerID": "u", "asin": "i9", "unixReviewTime": %s}' % value)
    (folder / "reviews_Office_5.json").write_text("\n".join(lines) + "\n")
    code, text = cli("data", "prepare", "--format", "amazon2014", "--path", str(folder), "--out", "out")
    assert code == 2 and "reviews_Office_5.json:4: timestamp" in text


def test_duplicate_rows_are_kept_once_and_counted_in_the_summary(cli, tmp_path):
    folder = csv(tmp_path, rows() + b"u0,i0,1000\nu1,i3,1103\nu1,i3,1103\n")
    code, text = prepare(cli, folder)
    assert code == 0, text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["duplicate_rows_dropped"] == 3 and summary["interactions"] == 48


def test_an_import_that_leaves_no_training_example_is_refused(cli, tmp_path):
    folder = csv(tmp_path, b"u1,i1,1000\nu2,i2,1000\nu3,i1,1000\n")  # one event each: nothing to predict from
    code, text = prepare(cli, folder)
    assert code == 2 and "no training examples left" in text and not (tmp_path / "out").exists()


def test_a_catalog_smaller_than_the_largest_k_is_refused_before_ranking(cli, tmp_path):
    code, text = prepare(cli, csv(tmp_path, rows(items=8)))
    assert code == 0, text
    (tmp_path / "data").mkdir()
    for file in (tmp_path / "out").iterdir():  # the prepared data becomes an input of the baseline
        (tmp_path / "data" / file.name).write_bytes(file.read_bytes())
    code, text = cli("baseline", "pop", "--data", "data", "--out", "out/pop", "--set", "eval.ks=[1,5]")
    assert code == 2 and "the catalog has 8 items, fewer than K=10" in text
    code, text = cli("baseline", "pop", "--data", "data", "--out", "out/pop", "--set", "eval.ks=[20]")
    assert code == 2 and "fewer than K=20" in text
    assert not (tmp_path / "out" / "pop" / "metrics.json").exists()
