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


def interest_texts(path: Path, item_ids: list[str]) -> list[str]:
    """One text per item listing its interests, from a Parquet table with `item` and `interest`.

    Rows with `keep` false (RLDI's verdict) are left out; higher `confidence` comes first.
    Items without interests get "".
    """
    table = pl.read_parquet(path)
    missing = {"item", "interest"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: interests table lacks column(s) {', '.join(sorted(missing))}")
    if "keep" in table.columns:
        table = table.filter(pl.col("keep"))
    order = [pl.col("confidence").fill_null(0.0)] if "confidence" in table.columns else []
    if order:
        table = table.sort(order, descending=True, maintain_order=True)
    grouped = table.group_by(pl.col("item").cast(pl.Utf8), maintain_order=True).agg(pl.col("interest"))
    by_item = dict(zip(grouped["item"].to_list(), grouped["interest"].to_list()))
    unknown = set(by_item) - set(item_ids)
    if unknown and len(unknown) == len(by_item):
        raise ValueError(f"{path}: none of its items are in the dataset (e.g. {sorted(unknown)[:3]})")
    return ["; ".join(by_item.get(item, [])) for item in item_ids]

