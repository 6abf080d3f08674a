"""The label stage (RLDI): keep/drop and a probability for every mined interest, and q_i per item.

Writes `interests.parquet` (the mined table plus features, training label and its source, probability
and keep: the `--interests` input of `deepinterest tokenize`), `items.parquet` (item, q, interests,
kept) and `summary.json` (label counts, held-out AUC, precision, recall, keep rate).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from deepinterest.config import ExperimentConfig
from deepinterest.config.schema import LABEL_FEATURES
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.embedding import embed_texts
from deepinterest.data.io import atomic_dir, check_output_folder, write_json
from deepinterest.data.item_text import item_texts
from deepinterest.labeling.classifier import fit_and_score
from deepinterest.labeling.features import best_match, co_interaction_neighbours, pair_features
from deepinterest.labeling.labels import behaviour_labels, combine, human_labels, judge_labels

def load_pairs(interests: Path, dataset: PreparedDataset) -> pl.DataFrame:
    path = interests / "item_interests.parquet" if interests.is_dir() else interests
    if not path.exists():
        raise FileNotFoundError(f"{path}: no mined interests; run `deepinterest mine` first")
    table = pl.read_parquet(path)
    missing = {"item", "interest", "confidence", "support"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: lacks column(s) {', '.join(sorted(missing))}")
    known = set(dataset.item_ids)
    table = table.filter(pl.col("item").is_in(known))
    if table.height == 0:
        raise ValueError(f"{path}: none of its items are in {dataset.folder}")
    return table


def label(data: Path, interests: Path, out: Path, config: ExperimentConfig, progress: bool = True) -> dict:
    started = time.perf_counter()
    cfg = config.label
    dataset = PreparedDataset(data)
    check_output_folder(out, (data, interests), kind="label")
    pairs = load_pairs(Path(interests), dataset)
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    owners = np.asarray([index[i] for i in pairs["item"].to_list()], dtype=np.int64)
    texts = dict(zip(dataset.item_ids, item_texts(dataset, config.tokenizer.text)))  # the tokenizer's texts: one cache

    vectors, _ = embed_texts(pairs["interest"].to_list(), config.tokenizer.embedding, label="embedding interests", progress=progress)
    item_vectors, _ = embed_texts([texts[i] for i in dataset.item_ids], config.tokenizer.embedding, label="embedding items",
                                  progress=progress)
    neighbours = co_interaction_neighbours(dataset, cfg.neighbours)
    sources: dict[str, np.ndarray] = {}
    judge_report = None
    if "behaviour" in cfg.sources:
        sources["behaviour"], near = behaviour_labels(vectors, owners, neighbours, cfg.behaviour_margin, config.seed)
    else:
        near = np.nan_to_num(best_match(vectors, owners, np.arange(len(owners)), [neighbours[o] for o in owners]))
    if "human" in cfg.sources:
        if cfg.human_labels is None:
            raise ValueError("label.sources has human but label.human_labels is not set")
        sources["human"] = human_labels(cfg.human_labels, pairs)
    if "judge" in cfg.sources:
        sources["judge"], judge_report = judge_labels(pairs, texts, config, progress)
    labels, origin = combine(sources)

    features = pair_features(pairs, vectors, item_vectors, owners, near)
    names = list(cfg.features or [f for f in LABEL_FEATURES if not (f == "neighbour_sim" and "behaviour" in cfg.sources)])
    probability, report = fit_and_score(features.select(names).to_numpy(), labels, cfg.classifier, cfg.holdout,
                                        cfg.threshold, config.seed)
    keep = probability >= cfg.threshold
    table = pairs.with_columns(features).with_columns(
        pl.Series("label", labels), pl.Series("label_source", origin.astype(str)),
        pl.Series("probability", probability), pl.Series("keep", keep))
    items = item_quality(table, dataset.item_ids)
    summary = {
        "pairs": table.height, "kept": int(keep.sum()), "keep_rate": round(float(keep.mean()), 4),
        "items": dataset.n_items, "items_with_interests": int((items["interests"] > 0).sum()),
        "items_with_kept": int((items["kept"] > 0).sum()), "mean_q": round(float(items["q"].mean()), 4),
        "labels_by_source": {name: int(np.isfinite(values).sum()) for name, values in sources.items()},
        "positive_rate_by_source": {name: round(float(np.nanmean(values)), 4) if np.isfinite(values).any() else None
                                    for name, values in sources.items()},
        "classifier": cfg.classifier, "features": names, "threshold": cfg.threshold, **report,
        "judge": judge_report, "seconds": round(time.perf_counter() - started, 2),
    }
    with atomic_dir(out, (data, interests), kind="label") as stage:
        table.write_parquet(stage / "interests.parquet")
        items.write_parquet(stage / "items.parquet")
        write_json(stage / "summary.json", summary)
    return summary


def item_quality(table: pl.DataFrame, item_ids: list[str]) -> pl.DataFrame:
    """q_i: the confidence-weighted mean of an item's keep labels (0 for items with no interests)."""
    per_item = table.group_by("item").agg(
        ((pl.col("confidence") * pl.col("keep").cast(pl.Float64)).sum() / pl.col("confidence").sum().clip(1e-9)).alias("q"),
        pl.len().alias("interests"), pl.col("keep").sum().alias("kept"))
    frame = pl.DataFrame({"item": item_ids})
    return frame.join(per_item, on="item", how="left", maintain_order="left").with_columns(
        pl.col("q").fill_null(0.0), pl.col("interests").fill_null(0).cast(pl.Int32),
        pl.col("kept").fill_null(0).cast(pl.Int32))
