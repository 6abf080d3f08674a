"""The mining stage: prompts for items (text, images) and optionally users, every backend asked, merged.

Writes `item_interests.parquet` (item, interest, kind, confidence, rationale, models, support),
`raw_interests.parquet` (one row per interest per backend, before merging: the labeler's evidence of
cross-model agreement), `user_interests.parquet` when users are mined, and `summary.json`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import polars as pl

from deepinterest.config import ExperimentConfig, MiningConfig
from deepinterest.data.dataset import PreparedDataset, trim_text
from deepinterest.data.io import atomic_dir, check_output_folder, write_json
from deepinterest.mining.backends.base import Backend, build_backend
from deepinterest.mining.imported import read_interest_file
from deepinterest.mining.merge import RAW_COLUMNS, merge_interests
from deepinterest.mining.prompts import load_prompt
from deepinterest.mining.runner import Job, Tally, run_jobs
from deepinterest.mining.store import MiningStore

ITEM_COLUMNS = ["item", "interest", "kind", "confidence", "rationale", "models", "support"]
KIND_OF_JOB = {"item": "textual", "visual": "visual", "user": "user"}
RAW_SCHEMA = dict(zip(RAW_COLUMNS, (pl.Utf8, pl.Utf8, pl.Utf8, pl.Float64, pl.Utf8, pl.Utf8)))


def behaviour_entries(dataset: PreparedDataset, seed: int) -> list[tuple[str, dict, None]]:
    """Behavioural interests of this run's training split, as rows of the interests file format."""
    from deepinterest.mining.behavioural import behavioural_interests

    return [(f"behaviour:{n}", row, None) for n, row in enumerate(behavioural_interests(dataset, seed=seed), 1)]


def item_jobs(dataset: PreparedDataset, config: MiningConfig, limit: int | None) -> list[Job]:
    items = dataset.items.head(limit) if limit else dataset.items
    jobs = []
    for row in items.iter_rows(named=True):
        fields = {name: (row.get(name) or "").strip() for name in ("title", "brand", "categories")}
        fields["description"] = trim_text((row.get("description") or "").strip(), config.description_chars)
        jobs.append(Job("item", row["item"], fields))
    return jobs


def visual_jobs(dataset: PreparedDataset, config: MiningConfig, limit: int | None) -> tuple[list[Job], dict]:
    """Jobs for the items whose image is a readable local file; the others are counted, not fatal."""
    items = dataset.items.head(limit) if limit else dataset.items
    values = items["image_url"].to_list() if "image_url" in items.columns else [None] * items.height
    stats = {"with_image_field": sum(bool(v) for v in values), "tagged": 0, "missing": 0}
    if not config.visual or not stats["with_image_field"]:
        return [], stats
    from deepinterest.mining.visual import ImageTagger, resolve_image, tags_text

    found = [(row, path) for row, value in zip(items.iter_rows(named=True), values)
             if value and (path := resolve_image(value, config.image_root)) is not None]
    tags = ImageTagger(top_k=config.tagger_top_k).tag([path for _, path in found]) if found else []
    jobs = [Job("visual", row["item"], {"title": (row.get("title") or "").strip(), "tags": tags_text(t)})
            for (row, _), t in zip(found, tags) if t]
    stats["tagged"], stats["missing"] = len(jobs), stats["with_image_field"] - len(jobs)
    return jobs, stats


def user_jobs(dataset: PreparedDataset, config: MiningConfig, limit: int | None) -> list[Job]:
    """One job per user (the first `limit` users) over the last `history_items` items of the training
    part only (never the valid or test targets, which the recommender must not see)."""
    titles = [(t or "").strip() or item for t, item in zip(dataset.items["title"].to_list(), dataset.item_ids)]
    jobs = []
    pairs = list(zip(dataset.user_ids, dataset.train_sequences))
    for user, history in pairs[:limit] if limit else pairs:
        recent = history[-config.history_items:]
        text = "\n".join(f"{n}. {titles[i]}" for n, i in enumerate(recent, 1))
        jobs.append(Job("user", str(user), {"history": text}))
    return jobs


def _raw_rows(jobs: list[Job], tallies: dict[str, Tally], store: MiningStore) -> pl.DataFrame:
    rows = []
    for name, tally in tallies.items():
        stored = store.rows(list(tally.keys.values()))
        for job in jobs:
            record = stored.get(tally.keys[(job.kind, job.subject)])
            for interest in record[1] if record else ():
                rows.append((job.subject, KIND_OF_JOB[job.kind], interest.interest, interest.confidence,
                             interest.rationale, name))
    return pl.DataFrame(rows, schema=RAW_SCHEMA, orient="row")


def mine(data: Path, out: Path, config: ExperimentConfig, *, limit: int | None = None, progress: bool = True) -> dict:
    started = time.perf_counter()
    mining = config.mine
    if not mining.backends:
        raise ValueError("no mining backends configured (mine.backends); see configs/mining/offline.yaml")
    dataset = PreparedDataset(data)
    check_output_folder(out, (data,), kind="mine")
    limit = limit or mining.limit
    # Interests from files (and behaviour) first: a malformed file stops the stage before any LLM is asked.
    files = [source for source in mining.backends if not source.is_llm]
    imported = [read_interest_file(source, dataset.item_ids, mining,
                                   behaviour_entries(dataset, source.seed) if source.kind == "behaviour" else None)
                for source in files]
    llms = mining.model_copy(update={"backends": [b for b in mining.backends if b.is_llm]})
    jobs, image_stats, tallies, raw = [], {}, {}, pl.DataFrame(schema=RAW_SCHEMA)
    if llms.backends:
        jobs = item_jobs(dataset, mining, limit)
        visual, image_stats = visual_jobs(dataset, mining, limit)
        jobs += visual + (user_jobs(dataset, mining, limit) if mining.users else [])
        prompts = {kind: load_prompt(kind, mining.prompt_version) for kind in {job.kind for job in jobs}}
        with MiningStore(mining.store) as store:
            tallies = asyncio.run(_build_run_close(jobs, prompts, store, llms, progress))
            raw = _raw_rows(jobs, tallies, store)
    raw = pl.concat([raw, *(frame for frame, _ in imported)])
    # One encoder for the whole run (tokenizer.embedding): its cache serves mining, labels and SIDs alike.
    merged = merge_interests(raw, mining.merge_threshold, config.tokenizer.embedding, progress=progress)
    items = merged.filter(pl.col("kind") != "user").rename({"subject": "item"}).select(ITEM_COLUMNS)
    with atomic_dir(out, (data,), kind="mine") as stage:
        raw.write_parquet(stage / "raw_interests.parquet")
        items.write_parquet(stage / "item_interests.parquet")
        if mining.users:
            merged.filter(pl.col("kind") == "user").drop("kind").rename({"subject": "user"}).write_parquet(
                stage / "user_interests.parquet")
        summary = _summary(dataset, jobs, tallies, items, image_stats, time.perf_counter() - started)
        summary["imported"] = {source.name: report for source, (_, report) in
                               zip(files, imported)}
        write_json(stage / "summary.json", summary)
    return summary


def _summary(dataset: PreparedDataset, jobs: list[Job], tallies: dict[str, Tally], items: pl.DataFrame,
             image_stats: dict, seconds: float) -> dict:
    per_backend = {name: tally.summary() for name, tally in tallies.items()}
    mined = items["item"].n_unique() if items.height else 0
    item_jobs_count = sum(job.kind == "item" for job in jobs)
    return {
        "items": dataset.n_items,
        "item_jobs": item_jobs_count,
        "mined_items": mined,
        "interests": items.height,
        "interests_per_mined_item": round(items.height / mined, 2) if mined else 0.0,
        "multi_model_interests": int((items["support"] > 1).sum()) if items.height else 0,
        "user_jobs": sum(job.kind == "user" for job in jobs),
        "images": image_stats or {"with_image_field": 0, "tagged": 0, "missing": 0},
        "valid_rate": {name: s["valid_rate"] for name, s in per_backend.items()},
        "calls": sum(s["calls"] for s in per_backend.values()),
        "cache_hits": sum(s["cache_hits"] for s in per_backend.values()),
        "failed_calls": sum(s["failed"] for s in per_backend.values()),
        # Failed calls are retried by the next run; `deepinterest run` redoes a stage marked incomplete.
        "incomplete": any(s["failed"] for s in per_backend.values()),
        "prompt_tokens": sum(s["prompt_tokens"] for s in per_backend.values()),
        "completion_tokens": sum(s["completion_tokens"] for s in per_backend.values()),
        "seconds": round(seconds, 2),
        "backends": per_backend,
    }


async def _build_run_close(jobs, prompts, store, mining: MiningConfig, progress) -> dict[str, Tally]:
    backends: list[Backend] = []
    try:
        for config in mining.backends:  # built one by one, so a failing one never leaks those before it
            backends.append(build_backend(config))
        return await run_jobs(jobs, backends, prompts, store, mining, progress)
    finally:
        for backend in backends:
            await backend.close()
