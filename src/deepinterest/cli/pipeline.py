"""`deepinterest run`: data -> mine -> label -> tokenize -> sft (+ evaluate) -> [teacher] -> rl, one folder per stage.

`teacher` (a SASRec on the same data) runs only when the RL reward's collab term needs one and
rl.teacher names none.

Each finished stage leaves `stage.json` with a fingerprint: a hash of its settings and of the
fingerprints of the stages it reads. A stage whose fingerprint is unchanged is skipped; a changed one
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

from deepinterest.config import ExperimentConfig
from deepinterest.data.io import read_json, write_json

STAGE_FILE = "stage.json"
PENDING_FILE = "stage.pending.json"  # written before a stage runs: a killed stage resumes only into its own settings
PENDING_TICK_S = 30.0  # how often a running stage saves its elapsed time: a kill -9 loses at most this much
# Settings that change how a stage runs, not what it produces.
RUNTIME_KEYS = {"store", "cache", "threads", "device", "data", "sid", "interests", "max_concurrency",
                "requests_per_second", "timeout", "retries", "backoff", "batch_size_eval"}


def _settings(section) -> object:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in sorted(value.items()) if k not in RUNTIME_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(section.model_dump(mode="json") if hasattr(section, "model_dump") else section)


def fingerprint(name: str, settings: object, inputs: list[str]) -> str:
    text = json.dumps({"stage": name, "settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Stage:
    name: str
    settings: object
    inputs: list[str]  # names of the stages it reads
    run: Callable[[Path], dict | None]


@dataclass
class Pipeline:
    root: Path
    console: Console
    fingerprints: dict[str, str] = field(default_factory=dict)
    timings: dict[str, dict] = field(default_factory=dict)

    def run(self, stage: Stage) -> dict | None:
        folder = self.root / stage.name
        print_ = self.console.print
        fp = fingerprint(stage.name, stage.settings, [self.fingerprints[i] for i in stage.inputs])
        self.fingerprints[stage.name] = fp
        done, pending = folder / STAGE_FILE, folder / PENDING_FILE
        record = read_json(done) if done.exists() else {}
        if record.get("fingerprint") == fp:
            self.timings[stage.name] = {"seconds": record["seconds"], "skipped": True}
            print_(f"[green]{stage.name}[/]: unchanged, skipped ({record['seconds']:.0f} s when it ran)")
            return record.get("summary")
        pending_record = read_json(pending) if pending.exists() else {}
        resumable = pending_record.get("fingerprint") == fp
        if folder.exists() and not resumable:  # other settings or inputs: nothing of it may be resumed into
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
        write_json(done, {"fingerprint": fp, "seconds": seconds, "summary": summary})
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


def _file_stamp(path: Path | None) -> list | None:
    """A file input's identity for a fingerprint: editing the file redoes the stage."""
    if path is None:
        return None
    stat = Path(path).stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def run_pipeline(config: ExperimentConfig, out: Path, console: Console, progress: bool = True) -> dict:
    from deepinterest.data.prepare import prepare
    from deepinterest.evaluation.baselines import run_sasrec
    from deepinterest.evaluation.generative import run_rl, run_sft
    from deepinterest.labeling.stage import label
    from deepinterest.mining.stage import mine
    from deepinterest.serving.report import write_report
    from deepinterest.tokenizer.stage import tokenize

    if config.data is None:
        raise ValueError("the config has no `data` section: name a registered source (data.source: office) or a path")
    out = Path(out)
    plan = config.pipeline
    pipe = Pipeline(out, console)
    summaries: dict[str, dict | None] = {}
    data = out / "data"
    summaries["data"] = pipe.run(Stage("data", _settings(config.data), [], lambda f: prepare(config.data, f)))

    curated, curated_stage = None, None
    if plan.interests:
        files = [_file_stamp(b.path) for b in config.mine.backends if b.kind == "file"]  # an edited file redoes mining
        summaries["mine"] = pipe.run(Stage("mine", [_settings(config.mine), _settings(config.tokenizer.embedding), *files], ["data"],
                                           lambda f: mine(data, f, config, progress=progress)))
        curated, curated_stage = out / "mine" / "item_interests.parquet", "mine"
        if plan.rldi:
            summaries["label"] = pipe.run(Stage("label", [_settings(config.label), _settings(config.tokenizer.embedding),
                                                       _settings(config.tokenizer.text), config.seed,
                                                       _file_stamp(config.label.human_labels)], ["data", "mine"],
                                                lambda f: label(data, out / "mine", f, config, progress=progress)))
            curated, curated_stage = out / "label" / "interests.parquet", "label"

    # One SASRec on the training split (also a baseline row) serves collaborative SIDs and the reward's collab term.
    wants_teacher = {"tokenize": config.tokenizer.collaborative and config.tokenizer.collab is None,
                     "rl": plan.rl and config.rl.reward.collab > 0 and config.rl.teacher is None}
    if any(wants_teacher.values()):
        summaries["teacher"] = pipe.run(Stage("teacher", [_settings(config.sasrec), _settings(config.eval), config.seed],
                                              ["data"], lambda f: run_sasrec(data, f, config, progress=progress)))

    in_sid = curated if plan.interests and plan.interests_in_sid else None
    collab = out / "teacher" if wants_teacher["tokenize"] else config.tokenizer.collab
    tok_config = config.model_copy(update={"tokenizer": config.tokenizer.model_copy(update={"collab": collab})})
    summaries["tokenize"] = pipe.run(Stage(
        "tokenize", [_settings(tok_config.tokenizer), config.seed, bool(in_sid),
                     _file_stamp(Path(collab) / "model.safetensors") if collab else None],
        ["data"] + ([curated_stage] if in_sid else []) + (["teacher"] if wants_teacher["tokenize"] else []),
        lambda f: tokenize(data, f, tok_config, in_sid, progress=progress)))

    tasks = list(config.sft.interest_tasks) if plan.interests and plan.interests_in_sft else []
    sft_config = config.model_copy(update={"sft": config.sft.model_copy(update={
        "data": data, "sid": out / "tokenize", "interests": curated if tasks else None, "interest_tasks": tasks})})
    summaries["sft"] = pipe.run(Stage(
        "sft", [_settings(sft_config.sft), _settings(config.eval), config.seed, tasks],
        ["data", "tokenize"] + ([curated_stage] if tasks else []),
        lambda f: run_sft(sft_config, f, progress=progress)))

    if plan.rl:
        # The reward reads the same curated interests as the SIDs and SFT (unfiltered ones without RLDI).
        reward_interests = (out / "label" if plan.rldi else curated) if plan.interests else None
        teacher, rl_inputs = config.rl.teacher, ["sft"] + ([curated_stage] if reward_interests else [])
        # A teacher the user names is an input by its weights, not its path: retraining it redoes rl.
        teacher_stamp = [_file_stamp(Path(teacher) / "model.safetensors")] if teacher is not None else []
        if wants_teacher["rl"]:
            teacher, rl_inputs = out / "teacher", rl_inputs + ["teacher"]
        rl_config = config.model_copy(update={"rl": config.rl.model_copy(update={"interests": reward_interests,
                                                                                  "teacher": teacher})})
        summaries["rl"] = pipe.run(Stage(
            "rl", [_settings(config.rl), bool(reward_interests)] + teacher_stamp, rl_inputs,
            lambda f: run_rl(rl_config, out / "sft", f, progress=progress)))

    record = {"config": config.model_dump(mode="json"), "fingerprints": pipe.fingerprints, "timings": pipe.timings,
              "total_seconds": round(sum(t["seconds"] for t in pipe.timings.values() if not t["skipped"]), 2)}
    write_json(out / "pipeline.json", record)
    write_report(out, config, record, summaries)
    return record
