"""Argument types for the benchmark scripts: a wrong path is one argparse error line and exit code 2,
found before any model trains, never a traceback minutes into the run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def folder_with(*names: str, what: str) -> Callable[[str], Path]:
    """An argparse `type` for a folder that must hold `names` (e.g. summary.json for a prepared dataset)."""
    def check(text: str) -> Path:
        path = Path(text)
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: no such folder (expected {what})")
        missing = [name for name in names if not (path / name).exists()]
        if missing:
            raise argparse.ArgumentTypeError(f"{text}: not {what} (no {', '.join(missing)})")
        return path
    return check


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


PREPARED_DATA = folder_with("summary.json", what="a prepared dataset; run `deepinterest data prepare`")
SID_CATALOG = folder_with("catalog.json", what="a SID catalog; run `deepinterest tokenize`")
TRAINED_RUN = folder_with("run.json", what="a trained run folder (deepinterest run, sft or rl)")
