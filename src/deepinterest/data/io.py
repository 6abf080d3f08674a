"""Atomic artifact writing: a crash never leaves a half-written file or folder that looks complete."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _process_umask() -> int:
    """The umask, read once (setting it back at once): files we write get the mode a plain open() would."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _process_umask()
FILE_MODE, DIR_MODE = 0o666 & ~UMASK, 0o777 & ~UMASK  # mkstemp/mkdtemp would leave 0600/0700 behind


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)  # summary.json like its siblings, not mkstemp's private 0600
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)  # again: some writers (safetensors) replace the file with a private one
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_jsonl(path: Path, rows: Iterator[dict] | list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


MARKER = ".deepinterest"  # in every folder atomic_dir writes: the proof that replacing it loses nothing of the user's
# Files only our own folders hold: a `deepinterest run` stage's records (stage.json, and stage.pending.json, which
# the pipeline writes into a stage's folder before the stage runs), and a checkpoint written before the marker existed.
OUR_FILES = (MARKER, "stage.json", "stage.pending.json", "trainer_state.json")


class OutputFolderError(ValueError):
    """An output folder that would cost the user something if it were replaced."""


def _ours(path: Path) -> bool:
    names = {p.name for p in path.iterdir()}
    # Artifacts written before the marker existed: a summary.json beside Parquet tables (data, mine, label, tokenize).
    legacy = "summary.json" in names and any(n.endswith(".parquet") for n in names)
    # Training runs written before they were marked: their logs, or a finished run's record beside its metrics.
    trained = bool(names & {"train_log.json", "rl_log.json"}) or {"run.json", "metrics.json"} <= names
    return not names or any(n in names for n in OUR_FILES) or legacy or trained


def _marked_kind(path: Path) -> str | None:
    """The verb recorded in a folder's marker (`kind: data`), None for unmarked or older markers."""
    try:
        match = re.search(r"\(kind: ([\w-]+)\)", (path / MARKER).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def check_output_folder(path: Path, inputs: tuple[Path | str | None, ...] = (), kind: str | None = None) -> None:
    """Refuse an output folder whose replacement would delete what we did not write: an existing file, the
    current directory, an input or a folder that holds one, a folder of someone else's files, or one of our
    folders that another verb wrote (`kind`: a prepared dataset is not replaced by mined interests)."""
    path = Path(path)
    target = path.resolve()
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path}: is a file, not a folder; choose another output folder")
    if target == Path.cwd().resolve() or target == Path(target.anchor):
        raise OutputFolderError(f"{path}: the output would replace the current folder; name a new folder")
    for given in filter(None, inputs):
        source = Path(given).resolve()
        if target == source or target in source.parents:
            raise OutputFolderError(f"{path}: the output would replace an input ({given}); choose another output folder")
    if path.is_dir() and not _ours(path):
        raise OutputFolderError(f"{path}: a folder that deepinterest did not write (no {MARKER} marker); it is left "
                                "alone: choose another output folder, or empty it yourself")
    found = _marked_kind(path) if kind and path.is_dir() else None
    if found and found != kind:
        raise OutputFolderError(f"{path}: holds a deepinterest {found} output, not a {kind} one; it is left alone: "
                                "choose another output folder")


def claim_output_folder(path: Path, inputs: tuple[Path | str | None, ...] = (), kind: str | None = None) -> None:
    """For verbs that write into their folder as they go (training runs, resumed from a checkpoint there):
    refuse what check_output_folder refuses, then create the folder and mark it as ours, of this `kind`."""
    path = Path(path)
    check_output_folder(path, inputs, kind)
    path.mkdir(parents=True, exist_ok=True)
    if _marked_kind(path) is None:
        label = f" (kind: {kind})" if kind else ""
        (path / MARKER).write_text(f"written by deepinterest{label}; a training run: its files are rewritten when "
                                   "the same verb runs here again\n")


@contextmanager
def atomic_dir(path: Path, inputs: tuple[Path | str | None, ...] = (), kind: str | None = None) -> Iterator[Path]:
    """Stage a whole artifact folder and swap it in on success; an old folder is replaced only then, and only
    if it is ours and of the same `kind` (see check_output_folder)."""
    path = Path(path)
    check_output_folder(path, inputs, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    os.chmod(stage, DIR_MODE)
    try:
        yield stage
        label = f" (kind: {kind})" if kind else ""
        (stage / MARKER).write_text(f"written by deepinterest{label}; the folder is replaced whole when rewritten\n")
        for file in stage.rglob("*"):  # one mode for every file: safetensors writes private (0600) ones
            if file.is_file() and not file.is_symlink():
                os.chmod(file, FILE_MODE)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(stage, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
