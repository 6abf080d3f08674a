"""The in-memory form every importer returns, before filtering and splitting."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Item text columns the toolkit knows; importers fill what their source has, the rest stay null.
ITEM_TEXT_COLUMNS = ("title", "description", "brand", "categories", "image_url")

INTERACTION_SCHEMA = {"user": pl.Utf8, "item": pl.Utf8, "timestamp": pl.Int64, "order": pl.Int64}
ITEM_SCHEMA = {"item": pl.Utf8, **{c: pl.Utf8 for c in ITEM_TEXT_COLUMNS}}


@dataclass
class RawDataset:
    """Interactions and item metadata as read from a source.

    interactions: one row per event with `user`, `item` (original ids as strings), `timestamp`
    (seconds, null when the source has only an order) and `order` (position in the source, used to
    order events of a user that share a timestamp or have none).
    items: one row per item with the columns of ITEM_TEXT_COLUMNS (null where unknown); items
    without metadata may be missing from it.
    """

    interactions: pl.DataFrame
    items: pl.DataFrame

    def __post_init__(self) -> None:
        self.interactions = conform(self.interactions, INTERACTION_SCHEMA)
        self.items = conform(self.items, ITEM_SCHEMA).unique("item", keep="first", maintain_order=True)

    @property
    def has_timestamps(self) -> bool:
        return self.interactions["timestamp"].null_count() < self.interactions.height


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select `schema`'s columns in order, adding missing ones as nulls and casting types."""
    columns = []
    for name, dtype in schema.items():
        if name in frame.columns:
            columns.append(pl.col(name).cast(dtype))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(columns)


def items_frame(rows: list[dict]) -> pl.DataFrame:
    """Build an items frame from dicts (missing keys become null)."""
    if not rows:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    return pl.DataFrame(rows, schema=ITEM_SCHEMA, strict=False)


def interactions_frame(users: list[str], items: list[str], timestamps: list[int | None] | None = None) -> pl.DataFrame:
    """Build an interactions frame; `order` is the row position in the source."""
    n = len(users)
    return pl.DataFrame(
        {
            "user": users,
            "item": items,
            "timestamp": timestamps if timestamps is not None else [None] * n,
            "order": list(range(n)),
        },
        schema=INTERACTION_SCHEMA,
    )
