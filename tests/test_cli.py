"""The installed `deepinterest` command, run as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "deepinterest")


def run(*args, cwd=None):
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("command", [[], ["data"], ["data", "prepare"], ["baseline"], ["baseline", "pop"],
                                     ["baseline", "sasrec"], ["metrics"]])
def test_help_everywhere(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_prepare_and_pop_from_the_command_line(tmp_path):
    data, out = tmp_path / "office", tmp_path / "pop"
    assert run("data", "prepare", "office", "--out", str(data)).returncode == 0
    assert json.loads((data / "summary.json").read_text())["interactions"] == 53258
    assert run("baseline", "pop", "--data", str(data), "--out", str(out)).returncode == 0
    recomputed = run("metrics", str(out / "rankings.jsonl"))
    saved = json.loads((out / "metrics.json").read_text())["test"]
    line = next(l for l in recomputed.stderr.splitlines() + recomputed.stdout.splitlines() if l.startswith("hr@20"))
    assert float(line.split()[1]) == pytest.approx(saved["hr@20"], abs=1e-6)


def test_unknown_format_is_refused_with_the_known_ones(tmp_path):
    result = run("data", "prepare", "--format", "movielens", "--path", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "unknown format 'movielens'" in result.stderr and "amazon2014" in result.stderr


def test_malformed_input_names_file_and_line(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u1 a b c d e\nu2\n")
    result = run("data", "prepare", "--format", "p5", "--path", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "user_sequence.txt:2" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_compare_prints_the_paired_difference(tmp_path):
    rows = [{"user": str(u), "target": "t", "ranked": ["t", "x"] if u < 3 else ["x", "t"]} for u in range(10)]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({**r, "ranked": ["x", "t"]}) + "\n" for r in rows))
    result = run("compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "-m", "hr@1", "--resamples", "200")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hr@1\tA 0.00000\tB 0.30000\tB-A +0.30000") and "3/10 users differ" in result.stdout
