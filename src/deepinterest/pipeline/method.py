"""The DeepInterestGR method as a run of stages: data -> mine -> label -> [teacher] -> tokenize -> sft (+ evaluate)
-> rl, one folder per stage under the run folder, then report.md (see docs/architecture.md).

`teacher` (a SASRec on the same data) runs only when collaborative SIDs or the RL reward's collab term need
one and the config names none. From Python: `run_pipeline(load_config("configs/office.yaml"), Path("runs/x"))`
returns the run record (fingerprints, timings, total seconds); each stage's summary is in its folder.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from deepinterest.config import ExperimentConfig
from deepinterest.data.io import MARKER, OutputFolderError, write_json
from deepinterest.pipeline.engine import PENDING_FILE, STAGE_FILE, Pipeline, Stage, file_stamp, settings_of


def claim_run_folder(out: Path) -> None:
    """A run folder is new, empty or one of ours: never a folder of someone else's files that we would add to."""
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out}: is a file, not a folder; choose another run folder")
    if out.is_dir() and any(out.iterdir()):
        ours = (out / MARKER).exists() or (out / "pipeline.json").exists() or any(
            (child / STAGE_FILE).exists() or (child / PENDING_FILE).exists() for child in out.iterdir() if child.is_dir())
        if not ours:
            raise OutputFolderError(f"{out}: a folder that deepinterest did not write; choose a new run folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("a deepinterest run folder\n")


def run_pipeline(config: ExperimentConfig, out: Path, console: Console | None = None, progress: bool = True) -> dict:
    """Run every stage the config asks for into `out` (skipping unchanged ones); returns the run record."""
    from deepinterest.data import registry
    from deepinterest.data.prepare import prepare
    from deepinterest.evaluation.baselines import run_sasrec
    from deepinterest.evaluation.generative import run_rl, run_sft
    from deepinterest.labeling.stage import label
    from deepinterest.mining.stage import mine
    from deepinterest.serving.report import write_report
    from deepinterest.tokenizer.stage import tokenize

    if config.data is None:
        raise ValueError("the config has no `data` section: name a registered source (data.source: office) or a path")
    if config.pipeline.baseline is not None and not Path(config.pipeline.baseline).is_dir():  # before hours of work
        raise FileNotFoundError(f"pipeline.baseline: {config.pipeline.baseline} is not a run folder")
    out = Path(out)
    claim_run_folder(out)
    plan = config.pipeline
    pipe = Pipeline(out, console or Console(stderr=True, quiet=not progress))
    summaries: dict[str, dict | None] = {}
    data = out / "data"
    source = registry.resolve(config.data.source)[0] if config.data.source is not None else config.data.path
    summaries["data"] = pipe.run(Stage("data", settings_of(config.data), [], lambda f: prepare(config.data, f), [source]))

    curated, curated_stage = None, None
    if plan.interests:
        paths = [b.path for b in config.mine.backends if b.kind == "file"]  # an edited file redoes mining
        summaries["mine"] = pipe.run(Stage("mine", [settings_of(config.mine), settings_of(config.tokenizer.embedding),
                                                    *map(file_stamp, paths)], ["data"],
                                           lambda f: mine(data, f, config, progress=progress), paths))
        curated, curated_stage = out / "mine" / "item_interests.parquet", "mine"
        if plan.rldi:
            summaries["label"] = pipe.run(Stage("label", [settings_of(config.label), settings_of(config.tokenizer.embedding),
                                                       settings_of(config.tokenizer.text), config.seed,
                                                       file_stamp(config.label.human_labels)], ["data", "mine"],
                                                lambda f: label(data, out / "mine", f, config, progress=progress),
                                                [config.label.human_labels]))
            curated, curated_stage = out / "label" / "interests.parquet", "label"

    # One SASRec on the training split (also a baseline row) serves collaborative SIDs, the decoder's soft
    # targets and the reward's collab term.
    wants_teacher = {"tokenize": config.tokenizer.collaborative and config.tokenizer.collab is None,
                     "sft": config.sft.backbone in ("decoder", "items") and config.sft.distill and config.sft.teacher is None,
                     "rl": plan.rl and config.rl.reward.collab > 0 and config.rl.teacher is None}
    if any(wants_teacher.values()):
        summaries["teacher"] = pipe.run(Stage("teacher", [settings_of(config.sasrec), settings_of(config.eval), config.seed],
                                              ["data"], lambda f: run_sasrec(data, f, config, progress=progress)))

    in_sid = curated if plan.interests and plan.interests_in_sid else None
    collab = out / "teacher" if wants_teacher["tokenize"] else config.tokenizer.collab
    tok_config = config.model_copy(update={"tokenizer": config.tokenizer.model_copy(update={"collab": collab})})
    summaries["tokenize"] = pipe.run(Stage(
        "tokenize", [settings_of(tok_config.tokenizer), config.seed, bool(in_sid),
                     file_stamp(Path(collab) / "model.safetensors") if collab else None],
        ["data"] + ([curated_stage] if in_sid else []) + (["teacher"] if wants_teacher["tokenize"] else []),
        lambda f: tokenize(data, f, tok_config, in_sid, progress=progress),
        [Path(collab) / "model.safetensors" if collab and not wants_teacher["tokenize"] else None]))

    tasks = list(config.sft.interest_tasks) if plan.interests and plan.interests_in_sft else []
    sft_teacher = out / "teacher" if wants_teacher["sft"] else config.sft.teacher
    sft_config = config.model_copy(update={"sft": config.sft.model_copy(update={
        "data": data, "sid": out / "tokenize", "interests": curated if tasks else None, "interest_tasks": tasks,
        "teacher": sft_teacher})})
    # A teacher the user names is an input by its weights; the pipeline's own is a stage before this one.
    named_teacher = Path(config.sft.teacher) / "model.safetensors" if config.sft.teacher is not None else None
    summaries["sft"] = pipe.run(Stage(
        "sft", [settings_of(sft_config.sft), settings_of(config.eval), config.seed, tasks, file_stamp(named_teacher)],
        ["data", "tokenize"] + ([curated_stage] if tasks else []) + (["teacher"] if wants_teacher["sft"] else []),
        lambda f: run_sft(sft_config, f, progress=progress), [named_teacher]))

    if plan.rl:
        # The reward reads the same curated interests as the SIDs and SFT (unfiltered ones without RLDI).
        reward_interests = (out / "label" if plan.rldi else curated) if plan.interests else None
        teacher, rl_inputs = config.rl.teacher, ["sft"] + ([curated_stage] if reward_interests else [])
        # A teacher the user names is an input by its weights, not its path: retraining it redoes rl.
        teacher_stamp = [file_stamp(Path(teacher) / "model.safetensors")] if teacher is not None else []
        if wants_teacher["rl"]:
            teacher, rl_inputs = out / "teacher", rl_inputs + ["teacher"]
        rl_config = config.model_copy(update={"rl": config.rl.model_copy(update={"interests": reward_interests,
                                                                                  "teacher": teacher})})
        summaries["rl"] = pipe.run(Stage(
            "rl", [settings_of(config.rl), bool(reward_interests)] + teacher_stamp, rl_inputs,
            lambda f: run_rl(rl_config, out / "sft", f, progress=progress),
            [Path(config.rl.teacher) / "model.safetensors" if config.rl.teacher is not None else None]))

    record = {"config": config.model_dump(mode="json"), "fingerprints": pipe.fingerprints, "timings": pipe.timings,
              "total_seconds": round(sum(t["seconds"] for t in pipe.timings.values() if not t["skipped"]), 2)}
    write_json(out / "pipeline.json", record)
    write_report(out, config, record, summaries)
    return record
