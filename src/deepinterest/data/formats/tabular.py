"""Generic tables: interactions with columns user,item[,timestamp] and optional item metadata.

A folder holds `interactions.<ext>` and optionally `items.<ext>`; a file path names the interactions
table itself (with `items.<ext>` looked up beside it). Timestamps may be numbers (seconds) or
ISO-8601 date-times.
"""

from __future__ import annotations

import csv
from contextlib import suppress
from pathlib import Path

import polars as pl

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats.reading import MAX_SECONDS
from deepinterest.data.schema import ITEM_TEXT_COLUMNS, RawDataset


def load_csv(path: Path) -> RawDataset:
    return _load(path, "csv")


def load_parquet(path: Path) -> RawDataset:
    return _load(path, "parquet")


def _load(path: Path, ext: str) -> RawDataset:
    table = path if path.is_file() else path / f"interactions.{ext}"
    if not table.exists():
        raise DataFormatError(table, f"interactions table not found (a folder needs interactions.{ext})")
    frame = _read(table, ext)
    missing = {"user", "item"} - set(frame.columns)
    if missing:
        raise DataFormatError(table, f"missing column(s) {', '.join(sorted(missing))}; found {', '.join(frame.columns)}")
    _reject_nulls(frame, ("user", "item"), table)
    frame = frame.with_columns(pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8))
    if "timestamp" in frame.columns:
        frame = frame.with_columns(_seconds(frame["timestamp"], table).alias("timestamp"))
    frame = frame.with_row_index("order").with_columns(pl.col("order").cast(pl.Int64))

    items_path = table.parent / f"items.{ext}"
    items = _read(items_path, ext) if items_path.exists() else pl.DataFrame({"item": []}, schema={"item": pl.Utf8})
    if "item" not in items.columns:
        raise DataFormatError(items_path, "items table needs an item column")
    keep = [c for c in ("item", *ITEM_TEXT_COLUMNS) if c in items.columns]
    items = items.select(keep).with_columns(pl.col(c).cast(pl.Utf8) for c in keep)
    return RawDataset(frame, items)


def _read(path: Path, ext: str) -> pl.DataFrame:
    try:
        if ext == "csv":
            return pl.read_csv(path, infer_schema=False)  # ids stay strings: "007" is not 7
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        line, problem = _csv_problem(path) if ext == "csv" else (None, None)
        raise DataFormatError(path, problem or f"cannot read {ext}: {str(exc).splitlines()[0]}", line) from None


def _csv_problem(path: Path) -> tuple[int | None, str | None]:
    """The line polars does not name: the first one that is not UTF-8 or has more fields than the header."""
    with suppress(OSError), open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"not UTF-8 text (byte {exc.start + 1} of the line)"
        with open(path, encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            header = next(reader, [])
            for row in reader:
                if len(row) > len(header):
                    return reader.line_num, f"{len(row)} fields, but the header has {len(header)}"
    return None, None


def _reject_nulls(frame: pl.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    for column in columns:
        bad = frame.with_row_index("row").filter(pl.col(column).is_null() | (pl.col(column).cast(pl.Utf8) == ""))
        if bad.height:
            # +2: the header is line 1 and rows count from 0 (the line of a CSV; the row of a Parquet file)
            raise DataFormatError(path, f"empty {column}", int(bad["row"][0]) + 2)


def _seconds(column: pl.Series, path: Path) -> pl.Series:
    """Numbers (seconds) or ISO-8601 date-times, under the rule of reading.seconds: 1970..9999, finite."""
    as_number = column.cast(pl.Float64, strict=False)
    if as_number.null_count() == column.null_count():
        _refuse_first(~as_number.is_between(0, MAX_SECONDS), column, path, "is outside 1970..9999 (seconds) or not finite")
        return as_number.cast(pl.Int64)
    as_time = column.cast(pl.Utf8).str.to_datetime(strict=False, time_zone="UTC")
    _refuse_first(as_time.is_null() & column.is_not_null(), column, path, "is neither a number nor a date-time")
    epoch = as_time.dt.epoch("s")
    _refuse_first(~epoch.is_between(0, MAX_SECONDS), column, path, "is before 1970")
    return epoch


def _refuse_first(bad: pl.Series, column: pl.Series, path: Path, problem: str) -> None:
    bad = bad.fill_null(False)  # an absent timestamp is allowed: the source order decides
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataFormatError(path, f"timestamp {column[row]!r} {problem}", row + 2)
