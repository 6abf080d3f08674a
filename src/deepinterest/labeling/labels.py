"""Training labels for RLDI, from behaviour, an LLM judge, or people.

Behaviour: an interest is real when the items that the same users bought (training split) carry a
similar interest more than random items do. Judge: an LLM asked whether the interest is specific and
grounded in the item's text. Human: a CSV of item, interest, label. Labels are 1 (keep), 0 (drop), or
nan (no label); several sources combine by taking, per pair, the first source that labels it
(human, then judge, then behaviour: the surest first).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import polars as pl

from deepinterest.config import ExperimentConfig
from deepinterest.labeling.features import best_match
from deepinterest.mining.backends.base import build_backend
from deepinterest.mining.parse import normalise_phrase
from deepinterest.mining.prompts import load_prompt
from deepinterest.mining.runner import Job, run_jobs
from deepinterest.mining.store import MiningStore

SOURCE_ORDER = ("human", "judge", "behaviour")


def random_items(neighbours: list[np.ndarray], has_interests: np.ndarray, seed: int) -> list[np.ndarray]:
    """For each item, random other items with interests (never itself or a neighbour), as many as its
    neighbours with interests: both sides of the comparison search equally many items' interests."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(has_interests)
    out = []
    for item, near in enumerate(neighbours):
        wanted = int(has_interests[near].sum()) if len(near) else 0
        banned = set(near.tolist()) | {item}
        picks = [i for i in rng.permutation(pool)[: wanted + len(banned)] if i not in banned][:wanted]
        out.append(np.asarray(picks, dtype=np.int64))
    return out


def behaviour_labels(vectors: np.ndarray, owners: np.ndarray, neighbours: list[np.ndarray], margin: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, neighbour_sim): neighbour_sim is the interest's best match among neighbours' interests.

    Label 1 when that best match beats the best match among as many random items' interests by `margin`.
    """
    rows = np.arange(len(owners))
    near = best_match(vectors, owners, rows, [neighbours[o] for o in owners])
    has_interests = np.zeros(len(neighbours), dtype=bool)
    has_interests[owners] = True
    randoms = random_items(neighbours, has_interests, seed)
    far = best_match(vectors, owners, rows, [randoms[o] for o in owners])
    labels = np.where(np.isnan(near) | np.isnan(far), np.nan, (near > far + margin).astype(np.float32))
    return labels.astype(np.float32), np.nan_to_num(near, nan=0.0)


def human_labels(path: Path, pairs: pl.DataFrame) -> np.ndarray:
    table = pl.read_csv(path, schema_overrides={"item": pl.Utf8, "interest": pl.Utf8})
    missing = {"item", "interest", "label"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: human labels lack column(s) {', '.join(sorted(missing))}")
    table = table.with_columns(pl.col("interest").map_elements(normalise_phrase, return_dtype=pl.Utf8),
                               pl.col("label").cast(pl.Float32, strict=False))
    if not table["label"].is_in([0.0, 1.0]).all() or table["label"].null_count():
        raise ValueError(f"{path}: labels must be 0 (drop) or 1 (keep)")
    conflicts = table.group_by("item", "interest").agg(pl.col("label").n_unique().alias("n")).filter(pl.col("n") > 1)
    if conflicts.height:
        first = conflicts.row(0, named=True)
        raise ValueError(f"{path}: {conflicts.height} (item, interest) pair(s) have both labels, e.g. "
                         f"{first['item']!r}, {first['interest']!r}")
    joined = pairs.select("item", "interest").join(table.unique(["item", "interest"]), on=["item", "interest"],
                                                    how="left", maintain_order="left")
    return joined["label"].fill_null(np.nan).to_numpy().astype(np.float32)


def judge_labels(pairs: pl.DataFrame, item_text: dict[str, str], config: ExperimentConfig,
                 progress: bool = True) -> tuple[np.ndarray, dict]:
    """The LLM judge's verdict on a seeded sample of `label.judge_pairs` pairs (the rest: nan)."""
    label = config.label
    named = {b.name: b for b in config.mine.backends}
    if not named:
        raise ValueError("label.sources has judge but mine.backends is empty")
    asked = [b for b in config.mine.backends if b.is_llm]
    chosen = named.get(label.judge_backend) if label.judge_backend else (asked[0] if asked else None)
    if chosen is None and not label.judge_backend:
        raise ValueError("label.sources has judge but no mine.backends entry is an LLM (file and behaviour sources cannot judge)")
    if chosen is None:
        raise ValueError(f"label.judge_backend {label.judge_backend!r} is not among mine.backends ({', '.join(named)})")
    # Python ints: polars refuses numpy integers as row keys.
    sample = np.random.default_rng(config.seed).permutation(pairs.height)[: label.judge_pairs].tolist()
    jobs = [Job("judge", f"{pairs['item'][i]}\t{pairs['interest'][i]}",
                {"item": item_text.get(pairs["item"][i], ""), "interest": pairs["interest"][i]}) for i in sample]
    backend = build_backend(chosen)
    prompts = {"judge": load_prompt("judge", "v1")}

    async def run():
        try:
            return await run_jobs(jobs, [backend], prompts, store, config.mine, progress)
        finally:
            await backend.close()

    with MiningStore(config.mine.store) as store:
        tally = asyncio.run(run())[chosen.name]
        stored = store.rows(list(tally.keys.values()))
    labels = np.full(pairs.height, np.nan, dtype=np.float32)
    for i, job in zip(sample, jobs):
        record = stored.get(tally.keys[(job.kind, job.subject)])
        if record and record[1]:
            labels[i] = 1.0 if record[1][0].interest == "keep" else 0.0
    return labels, {"backend": chosen.name, "asked": tally.calls, "cache_hits": tally.cache_hits,
                    "verdicts": int(np.isfinite(labels).sum())}


def combine(sources: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(label, source name) per pair: the first source in SOURCE_ORDER that labels it."""
    n = len(next(iter(sources.values())))
    labels, origin = np.full(n, np.nan, dtype=np.float32), np.full(n, "", dtype=object)
    for name in reversed(SOURCE_ORDER):  # later writes win: the surest source last
        if name in sources:
            known = np.isfinite(sources[name])
            labels[known], origin[known] = sources[name][known], name
    return labels, origin
