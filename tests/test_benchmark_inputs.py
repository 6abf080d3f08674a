"""The benchmark scripts refuse a wrong input folder at once: one argparse line, exit code 2, no traceback,
nothing written, before any model loads or trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script, its arguments with one wrong folder, the option the error must name
CASES = [
    ("sft_speed.py", ["--data", "{office}", "--sid", "{office}"], "--sid"),
    ("sft_speed.py", ["--data", "{missing}", "--sid", "{office}"], "--data"),
    ("decoding.py", ["--run", "{office}"], "--run"),
    ("serve_load.py", ["--run", "{missing}"], "--run"),
    ("serve_fuzz.py", ["--run", "{office}"], "--run"),
    ("sid_coherence.py", ["--data", "{missing}", "--sid", "x={office}"], "--data"),
    ("miner_quality.py", ["--data", "{office}", "--items", "3", "--config", "{missing}"], "--config"),
    ("mining_engine.py", ["--data", "{missing}"], "--data"),
]


@pytest.mark.parametrize(("script", "args", "option"), CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_a_wrong_folder_is_one_line_and_exit_2(script, args, option, office, tmp_path):
    paths = {"office": str(office), "missing": str(tmp_path / "missing")}
    out = tmp_path / "out.json"
    command = [sys.executable, str(ROOT / "benchmarks" / script), *(a.format(**paths) for a in args), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and f"error: argument {option}" in done.stderr, done.stderr[-2000:]
    assert "no such" in done.stderr or "not a" in done.stderr
    assert not out.exists()
