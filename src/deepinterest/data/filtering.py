"""Chronological ordering, consecutive-repeat removal, a popular-items slice and iterated k-core filtering."""

from __future__ import annotations

import polars as pl


def chronological(interactions: pl.DataFrame) -> pl.DataFrame:
    """Sort events per user by time, then by source order (which also breaks ties and missing times)."""
    return interactions.sort(["user", "timestamp", "order"], nulls_last=False, maintain_order=True)


def drop_duplicate_rows(interactions: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The same user, item and timestamp on several rows is one interaction logged twice: the first row is
    kept (docs/data.md). Rows without a timestamp are left alone: only their order says when they happened.
    Returns the frame and the number of rows dropped."""
    timed = pl.col("timestamp").is_not_null()
    repeat = timed & pl.struct("user", "item", "timestamp").is_duplicated() & ~pl.struct("user", "item", "timestamp").is_first_distinct()
    kept = interactions.filter(~repeat)
    return kept, interactions.height - kept.height


def drop_consecutive_repeats(interactions: pl.DataFrame) -> pl.DataFrame:
    """Drop an event whose item equals the same user's previous item (input must be chronological)."""
    previous = pl.col("item").shift(1).over("user")
    return interactions.filter(previous.is_null() | (pl.col("item") != previous))


def kcore(interactions: pl.DataFrame, k: int) -> pl.DataFrame:
    """Repeatedly drop users and items with fewer than k events until both sides satisfy k."""
    if k <= 1:
        return interactions
    while True:
        before = interactions.height
        interactions = interactions.filter(
            (pl.len().over("user") >= k) & (pl.len().over("item") >= k)
        )
        if interactions.height == before:
            return interactions


def most_popular_items(interactions: pl.DataFrame, n: int) -> pl.DataFrame:
    """Keep the events of the `n` items with the most events (ties: the item seen first in the source)."""
    counts = interactions.group_by("item", maintain_order=True).agg(pl.len().alias("events"), pl.col("order").min())
    keep = counts.sort(["events", "order"], descending=[True, False]).head(n)["item"]
    return interactions.filter(pl.col("item").is_in(keep.implode()))
