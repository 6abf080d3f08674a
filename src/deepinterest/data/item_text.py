"""The text that represents an item for its embedding, and the text of its curated deep interests."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from deepinterest.config import ItemTextConfig
from deepinterest.data.dataset import PreparedDataset, trim_text

_LABELS = {"title": "Title", "brand": "Brand", "categories": "Categories", "description": "Description"}


def item_texts(dataset: PreparedDataset, config: ItemTextConfig) -> list[str]:
    """`Title: ... Brand: ... Categories: ... Description: ...` from the fields an item has ("" if none)."""
    items = dataset.items
    columns = {f: items[f].to_list() if f in items.columns else [None] * items.height for f in config.fields}
    texts = []
    for row in range(items.height):
        parts = []
        for field, values in columns.items():
            value = (values[row] or "").strip()
            if field == "description":
                value = trim_text(value, config.description_chars)
            if value:
                parts.append(f"{_LABELS[field]}: {value}")
        texts.append(". ".join(parts))
    return texts


def kept_interests(path: Path) -> pl.DataFrame:
    """`item, interest, confidence` of the interests RLDI kept (rows with `keep` false left out), from a
    label folder (its interests.parquet) or any Parquet with `item` and `interest`; confidence 1 when absent."""
    path = Path(path)
    file = path / "interests.parquet" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no interests table (run `deepinterest label`)")
    table = pl.read_parquet(file)
    missing = {"item", "interest"} - set(table.columns)
    if missing:
        raise ValueError(f"{file}: interests table lacks column(s) {', '.join(sorted(missing))}")
    if "keep" in table.columns:
        table = table.filter(pl.col("keep"))
    if "confidence" not in table.columns:
        table = table.with_columns(pl.lit(1.0).alias("confidence"))
    return table.select(pl.col("item").cast(pl.Utf8), "interest", "confidence")


def interest_texts(path: Path, item_ids: list[str]) -> list[str]:
    """One text per item listing its kept interests (see kept_interests), higher confidence first.
    Items without interests get "".
    """
    table = kept_interests(path).sort(pl.col("confidence").fill_null(0.0), descending=True, maintain_order=True)
    grouped = table.group_by("item", maintain_order=True).agg(pl.col("interest"))
    by_item = dict(zip(grouped["item"].to_list(), grouped["interest"].to_list()))
    unknown = set(by_item) - set(item_ids)
    if unknown and len(unknown) == len(by_item):
        raise ValueError(f"{path}: none of its items are in the dataset (e.g. {sorted(unknown)[:3]})")
    return ["; ".join(by_item.get(item, [])) for item in item_ids]

