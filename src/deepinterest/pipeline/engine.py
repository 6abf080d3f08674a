"""The run engine: stages in one folder each, fingerprinted, skipped when unchanged, resumed when killed.

Each finished stage leaves `stage.json` with a fingerprint: a hash of its settings, of the
fingerprints of the stages it reads and of the content of the files outside the run it reads (its
`sources`: a data source, human labels, a teacher, an imported interest file). A stage whose fingerprint is unchanged is skipped; a changed one
is redone from scratch, and so is everything downstream of it. A stage killed half-way has no
stage.json and runs again (mining and SFT resume from their own caches and checkpoints); the time it
had run is kept in its pending file, so a resumed stage's `seconds` counts every attempt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from deepinterest.data.io import check_output_folder, read_json, write_json

STAGE_FILE = "stage.json"
PENDING_FILE = "stage.pending.json"  # written before a stage runs: a killed stage resumes only into its own settings
PENDING_TICK_S = 30.0  # how often a running stage saves its elapsed time: a kill -9 loses at most this much
# Settings that change how a stage runs, not what it produces.
RUNTIME_KEYS = {"store", "cache", "threads", "device", "data", "sid", "interests", "max_concurrency",
                "requests_per_second", "timeout", "retries", "backoff", "batch_size_eval"}
# Settings added after runs existed: left out of a fingerprint while unset, so those runs are not redone for them.
UNSET_IS_ABSENT = {"top_items"}


def _map_json(value, leaf=lambda v: v, keep=lambda key, v: True):
    """`value` (dicts, lists, scalars) rebuilt with `leaf` applied to every scalar and only the dict entries `keep`
    accepts; keys sorted."""
    if isinstance(value, dict):
        return {k: _map_json(v, leaf, keep) for k, v in sorted(value.items()) if keep(k, v)}
    if isinstance(value, list):
        return [_map_json(v, leaf, keep) for v in value]
    return leaf(value)


def settings_of(section) -> object:
    return _map_json(section.model_dump(mode="json") if hasattr(section, "model_dump") else section,
                     keep=lambda k, v: k not in RUNTIME_KEYS and not (k in UNSET_IS_ABSENT and v is None))


def run_relative(settings: object, root: Path) -> object:
    """`settings` with every path inside the run folder written from it (`<run>/teacher`): a run folder that is
    moved or copied (`cp -a`, keeping file times) keeps its fingerprints and skips what it has done."""
    prefixes = {str(root), str(Path(root).resolve())}

    def relative(value):
        for prefix in prefixes if isinstance(value, str) else ():
            if value == prefix or value.startswith(prefix + "/"):
                return "<run>" + value[len(prefix):]
        return value

    return _map_json(settings, leaf=relative)


def fingerprint(name: str, settings: object, inputs: list[str]) -> str:
    text = json.dumps({"stage": name, "settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Stage:
    name: str
    settings: object
    inputs: list[str]  # names of the stages it reads
    run: Callable[[Path], dict | None]
    sources: list[Path | str | None] = field(default_factory=list)  # files or folders outside the run it reads


def content_digest(path: Path) -> str | None:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in name order); None
    when the path does not exist (the stage itself then says so)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    if not files:
        return None if not path.exists() else hashlib.sha256(b"").hexdigest()
    digest = hashlib.sha256()
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _newest_mtime(path: Path) -> float:
    path = Path(path)
    stats = [path.stat()] if path.is_file() else [p.stat() for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return max((s.st_mtime for s in stats), default=0.0)


def source_fingerprint(base: str, sources: dict[str, str | None], record: dict, done: Path) -> str:
    """The fingerprint of a stage that reads files outside the run: `base` (settings and inputs) with the
    sources' content. A stage recorded before sources were fingerprinted keeps `base` while its sources are
    unchanged (older than its stage.json, or as recorded since), so existing runs are not redone for it."""
    if not sources:
        return base
    if record.get("fingerprint") == base:
        recorded = record.get("sources")
        if recorded == sources or (recorded is None and all(_newest_mtime(p) <= done.stat().st_mtime for p in sources)):
            return base
    return fingerprint("sources", base, [f"{name}={digest}" for name, digest in sorted(sources.items())])


@dataclass
class Pipeline:
    root: Path
    console: Console
    fingerprints: dict[str, str] = field(default_factory=dict)
    timings: dict[str, dict] = field(default_factory=dict)
    # Fingerprints as runs made before `run_relative` recorded them (the run's own paths in full): such a run
    # is recognised in place, and its records take the new fingerprints, instead of being redone.
    legacy: dict[str, str] = field(default_factory=dict)

    def run(self, stage: Stage) -> dict | None:
        folder = self.root / stage.name
        print_ = self.console.print
        base = fingerprint(stage.name, run_relative(stage.settings, self.root), [self.fingerprints[i] for i in stage.inputs])
        legacy_base = fingerprint(stage.name, stage.settings, [self.legacy[i] for i in stage.inputs])
        done, pending = folder / STAGE_FILE, folder / PENDING_FILE
        record = read_json(done) if done.exists() else {}
        sources = {str(p): content_digest(p) for p in stage.sources if p is not None}
        fp = self.fingerprints[stage.name] = source_fingerprint(base, sources, record, done)
        legacy = self.legacy[stage.name] = source_fingerprint(legacy_base, sources, record, done)
        if record.get("fingerprint") in (fp, legacy):
            if record["fingerprint"] != fp or (sources and record.get("sources") != sources):
                write_json(done, {**record, "fingerprint": fp} | ({"sources": sources} if sources else {}))
            self.timings[stage.name] = {"seconds": record["seconds"], "skipped": True}
            print_(f"[green]{stage.name}[/]: unchanged, skipped ({record['seconds']:.0f} s when it ran)")
            return record.get("summary")
        pending_record = read_json(pending) if pending.exists() else {}
        resumable = pending_record.get("fingerprint") in (fp, legacy)
        if folder.exists() and not resumable:  # other settings or inputs: nothing of it may be resumed into
            check_output_folder(folder)  # never a folder of the user's that happens to bear a stage's name
            print_(f"[yellow]{stage.name}[/]: settings or inputs changed, redoing it")
            shutil.rmtree(folder)
        before = float(pending_record.get("seconds", 0.0)) if resumable else 0.0
        print_(f"[bold]{stage.name}[/] ..." + (f" (resuming after {before:.0f} s)" if resumable else ""))
        folder.mkdir(parents=True, exist_ok=True)
        with _saving_elapsed(pending, fp, before) as elapsed:
            summary = stage.run(folder)
            seconds = elapsed()
        self.timings[stage.name] = {"seconds": seconds, "skipped": False}
        if summary and summary.get("incomplete"):  # e.g. failed LLM calls: the next run tries them again
            print_(f"[yellow]{stage.name}[/]: done in {seconds:.0f} s, incomplete (the next run retries it)")
            return summary
        write_json(done, {"fingerprint": fp, "seconds": seconds, "summary": summary} | ({"sources": sources} if sources else {}))
        pending.unlink(missing_ok=True)
        print_(f"[green]{stage.name}[/]: done in {seconds:.0f} s")
        return summary


@contextmanager
def _saving_elapsed(pending: Path, fp: str, before: float) -> Iterator[Callable[[], float]]:
    """Keeps the pending file's `seconds` (earlier attempts + this one) current while a stage runs and
    when it stops, by error or Ctrl-C alike; yields a function giving that total."""
    started, stop = time.perf_counter(), threading.Event()

    def elapsed() -> float:
        return round(before + time.perf_counter() - started, 2)

    def save() -> None:
        write_json(pending, {"fingerprint": fp, "seconds": elapsed()})

    def tick() -> None:
        while not stop.wait(PENDING_TICK_S):
            save()

    save()
    ticker = threading.Thread(target=tick, name="stage-elapsed", daemon=True)
    ticker.start()
    try:
        yield elapsed
    finally:
        stop.set()
        ticker.join()
        with suppress(OSError):  # a failed save must not hide the stage's own error
            save()


def file_stamp(path: Path | None) -> list | None:
    """A file input's identity for a fingerprint: editing the file redoes the stage."""
    if path is None:
        return None
    stat = Path(path).stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]
