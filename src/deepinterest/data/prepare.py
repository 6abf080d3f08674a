"""`deepinterest data prepare`: import a source, filter it, split it and write the Parquet artifact."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from deepinterest import __version__
from deepinterest.config import DataConfig
from deepinterest.data import registry
from deepinterest.data.errors import DataFormatError
from deepinterest.data.filtering import (
    chronological,
    drop_consecutive_repeats,
    drop_duplicate_rows,
    kcore,
    most_popular_items,
)
from deepinterest.data.formats import get_format
from deepinterest.data.io import atomic_dir, check_output_folder, write_json
from deepinterest.data.schema import ITEM_TEXT_COLUMNS
from deepinterest.data.split import Split, count_windows, global_chronological, leave_one_out


def prepare(config: DataConfig, out: Path) -> dict:
    """Run the data stage and return its summary (also written to `out/summary.json`)."""
    started = time.perf_counter()
    if config.source is not None:
        path, format_name = registry.resolve(config.source)
    else:
        path, format_name = Path(config.path), config.format
    importer = get_format(format_name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    check_output_folder(out, (path,), kind="data")  # before the work, not after it
    raw = importer.load(path)
    if raw.interactions.height == 0:
        raise DataFormatError(path, "no interactions found")

    events, duplicates = drop_duplicate_rows(chronological(raw.interactions))
    if config.dedup_consecutive:
        events = drop_consecutive_repeats(events)
    if config.top_items is not None:
        events = most_popular_items(events, config.top_items)
    events = kcore(events, config.kcore)
    if events.height == 0:
        raise ValueError(f"no interactions left after {config.kcore}-core filtering")

    # Dense indices in order of first appearance in the source, so re-runs are reproducible.
    item_ids = events.sort("order")["item"].unique(maintain_order=True)
    user_ids = events.sort("order")["user"].unique(maintain_order=True)
    item_index = {item: i for i, item in enumerate(item_ids.to_list())}
    user_index = {user: u for u, user in enumerate(user_ids.to_list())}
    events = events.with_columns(
        pl.col("user").replace_strict(user_index, return_dtype=pl.Int32).alias("user_idx"),
        pl.col("item").replace_strict(item_index, return_dtype=pl.Int32).alias("item_idx"),
    ).sort(["user_idx", "timestamp", "order"], nulls_last=False)
    grouped = events.group_by("user_idx", maintain_order=True).agg("item_idx", "timestamp")
    sequences = grouped["item_idx"].to_list()

    if config.split == "global":
        if not raw.has_timestamps or events["timestamp"].null_count():
            raise ValueError(f"{path}: the global chronological split needs a timestamp on every interaction")
        split = global_chronological(sequences, grouped["timestamp"].to_list(), config.split_ratios, config.max_history)
    else:
        split = leave_one_out(sequences, config.max_history)

    items = (
        pl.DataFrame({"item_idx": pl.Series(range(len(item_ids)), dtype=pl.Int32), "item": item_ids})
        .join(raw.items, on="item", how="left")
        .sort("item_idx")
    )
    summary = _summary(config, path, format_name, events, items, sequences, split)
    if summary["train_examples"] == 0:  # nothing to train on: every later stage would fail or learn nothing
        raise DataFormatError(path, f"no training examples left ({summary['users']} users, {summary['items']} items "
                                    f"after {config.kcore}-core filtering): no user's training part has 2 interactions")
    summary["duplicate_rows_dropped"] = duplicates
    with atomic_dir(out, (path,), kind="data") as stage:
        items.write_parquet(stage / "items.parquet")
        events.select("user", "item", "user_idx", "item_idx", "timestamp").write_parquet(stage / "interactions.parquet")
        pl.DataFrame({
            "user_idx": pl.Series(range(len(user_ids)), dtype=pl.Int32),
            "user": user_ids,
            "items": pl.Series(sequences, dtype=pl.List(pl.Int32)),
            "train": pl.Series(split.train, dtype=pl.List(pl.Int32)),
        }).write_parquet(stage / "sequences.parquet")
        _examples_frame(split).write_parquet(stage / "examples.parquet")
        summary["seconds"] = round(time.perf_counter() - started, 3)
        write_json(stage / "summary.json", summary)  # written last: its presence marks a complete artifact
    return summary


def _examples_frame(split: Split) -> pl.DataFrame:
    frames = []
    for name, (users, histories, targets) in split.examples.items():
        frames.append(pl.DataFrame({
            "split": [name] * len(users),
            "user_idx": pl.Series(users, dtype=pl.Int32),
            "history": pl.Series(histories, dtype=pl.List(pl.Int32)),
            "target": pl.Series(targets, dtype=pl.Int32),
        }))
    return pl.concat(frames)


def _summary(config, path, format_name, events, items, sequences, split) -> dict:
    lengths = [len(s) for s in sequences]
    text_present = {
        c: int(items.select(pl.col(c).is_not_null() & (pl.col(c) != "")).to_series().sum())
        for c in ITEM_TEXT_COLUMNS
    }
    return {
        "users": len(sequences),
        "items": items.height,
        "interactions": events.height,
        "avg_seq_len": round(sum(lengths) / len(lengths), 4),
        "train_examples": count_windows(split.train),
        "valid_users": len(set(split.examples["valid"][0])),
        "test_users": len(set(split.examples["test"][0])),
        "valid_examples": len(split.examples["valid"][0]),
        "test_examples": len(split.examples["test"][0]),
        "items_with_text": text_present,
        "source": config.source,
        "format": format_name,
        "path": str(path),
        "settings": config.model_dump(mode="json"),
        "deepinterest_version": __version__,
    }
