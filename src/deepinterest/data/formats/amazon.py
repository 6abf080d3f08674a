"""Importers for the raw Amazon review dumps of the McAuley lab (2014, 2018 and 2023 releases).

Each release is a reviews file (one review per line) plus an optional metadata file named
`meta_<Category>...` in the same folder. Files are read line by line so multi-GB dumps stream.
"""

from __future__ import annotations

import glob
import html
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats.reading import clean_text, find_one, json_records, require, seconds
from deepinterest.data.schema import RawDataset, interactions_frame, items_frame

ItemParser = Callable[[dict[str, Any]], dict[str, str | None]]

JSON = (".json.gz", ".json")
JSONL = (".jsonl", ".jsonl.gz")


def load_amazon2014(path: Path) -> RawDataset:
    """reviews_<Category>[_5].json.gz + meta_<Category>.json.gz (meta lines are Python literals)."""
    reviews, meta = _locate(Path(path), prefix="reviews_", extensions=JSON)
    return RawDataset(
        _read_reviews(reviews, ("reviewerID", "asin", "unixReviewTime")),
        _read_meta(meta, "asin", _item_2014, python_literals=True),
    )


def load_amazon2018(path: Path) -> RawDataset:
    """<Category>[_5].json.gz + meta_<Category>.json.gz (strict JSON lines)."""
    reviews, meta = _locate(Path(path), prefix="", extensions=JSON)
    return RawDataset(
        _read_reviews(reviews, ("reviewerID", "asin", "unixReviewTime")),
        _read_meta(meta, "asin", _item_2018),
    )


def load_amazon2023(path: Path) -> RawDataset:
    """<Category>.jsonl + meta_<Category>.jsonl; items keyed by parent_asin, timestamps in ms."""
    reviews, meta = _locate(Path(path), prefix="", extensions=JSONL)
    return RawDataset(
        _read_reviews(reviews, ("user_id", "parent_asin", "timestamp"), divisor=1000),
        _read_meta(meta, "parent_asin", _item_2023),
    )


# --- locating files -------------------------------------------------------------------------


def _locate(path: Path, *, prefix: str, extensions: tuple[str, ...]) -> tuple[Path, Path | None]:
    """Return (reviews file, metadata file or None) for a folder or a reviews file."""
    if path.is_dir():
        reviews = _find_reviews(path, tuple(f"{prefix}*{ext}" for ext in extensions))
    elif path.is_file():
        reviews = path
    else:
        raise DataFormatError(path, "no such file or folder")
    if reviews.name.startswith("meta_"):
        raise DataFormatError(reviews, "this is a metadata file; pass the reviews file or its folder")
    # The metadata file is named after the category, shared by the full and the _5 (core) reviews.
    category = _category(reviews.name, prefix, extensions)
    patterns = tuple(f"meta_{glob.escape(category)}{ext}" for ext in extensions)
    return reviews, find_one(reviews.parent, patterns, what="metadata", required=False)


def _find_reviews(folder: Path, patterns: tuple[str, ...]) -> Path:
    """Like find_one, but skipping meta_ files, which a 2018/2023 glob like '*.json.gz' also matches."""
    for pattern in patterns:
        matches = sorted(p for p in folder.glob(pattern) if not p.name.startswith("meta_"))
        if len(matches) > 1:
            names = ", ".join(m.name for m in matches)
            raise DataFormatError(
                folder, f"several reviews files match {pattern!r}: {names}; pass the reviews file to import"
            )
        if matches:
            return matches[0]
    raise DataFormatError(folder, f"no reviews file found (looked for {', '.join(patterns)})")


def _category(name: str, prefix: str, extensions: tuple[str, ...]) -> str:
    for ext in extensions:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return name.removeprefix(prefix).removesuffix("_5")


# --- reading --------------------------------------------------------------------------------


def _read_reviews(path: Path, keys: tuple[str, str, str], divisor: int = 1) -> pl.DataFrame:
    """Read (user, item, time) per line; `order` is the line's position among the reviews."""
    user_key, item_key, time_key = keys
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    for line, record in json_records(path):
        require(record, keys, path, line)
        users.append(str(record[user_key]))
        items.append(str(record[item_key]))
        times.append(seconds(record[time_key], path, line, divisor))
    return interactions_frame(users, items, times)


def _read_meta(path: Path | None, key: str, parse: ItemParser, *, python_literals: bool = False) -> pl.DataFrame:
    if path is None:  # metadata is optional: items stay unknown
        return items_frame([])
    rows: list[dict[str, str | None]] = []
    seen: set[str] = set()
    for line, record in json_records(path, allow_python_literals=python_literals):
        require(record, (key,), path, line)
        item = str(record[key])
        if item in seen:  # some 2018 meta dumps repeat an asin; the first line wins
            continue
        seen.add(item)
        rows.append({"item": item, **parse(record)})
    return items_frame(rows)


# --- per-release item fields ----------------------------------------------------------------


def _item_2014(r: dict[str, Any]) -> dict[str, str | None]:
    return {
        "title": clean_text(r.get("title")),
        "description": clean_text(r.get("description")),
        "brand": clean_text(r.get("brand")),
        "categories": _categories(r.get("categories")),
        "image_url": _first(r.get("imUrl")),
    }


def _item_2018(r: dict[str, Any]) -> dict[str, str | None]:
    return {
        "title": clean_text(r.get("title")),
        "description": clean_text(r.get("description")),
        "brand": clean_text(r.get("brand")),
        "categories": _categories(r.get("category")),
        "image_url": _first(r.get("imageURLHighRes")) or _first(r.get("imageURL")),
    }


def _item_2023(r: dict[str, Any]) -> dict[str, str | None]:
    details = r.get("details") if isinstance(r.get("details"), dict) else {}
    return {
        "title": clean_text(r.get("title")),
        "description": clean_text(r.get("description")),
        # `store` is the seller shown on the page; details["Brand"] exists only for some items.
        "brand": clean_text(r.get("store")) or clean_text(details.get("Brand")),
        # categories is often empty in 2023; main_category is then the only category known.
        "categories": _categories(r.get("categories")) or clean_text(r.get("main_category")),
        "image_url": _image_2023(r.get("images")),
    }


def _flatten(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for part in value:
            yield from _flatten(part)


def _categories(value: Any) -> str | None:
    """Category paths flattened in order, each name once (2014 paths repeat their root)."""
    names = (html.unescape(name.strip()) for name in _flatten(value))
    return ", ".join(dict.fromkeys(name for name in names if name)) or None


def _first(value: Any) -> str | None:
    """The first non-empty string of a URL or a list of URLs."""
    return next((url.strip() for url in _flatten(value) if url.strip()), None)


def _image_2023(images: Any) -> str | None:
    """The first image's best URL: hi_res, else large, else thumb (any may be null)."""
    if not isinstance(images, list) or not images or not isinstance(images[0], dict):
        return None
    for size in ("hi_res", "large", "thumb"):
        url = _first(images[0].get(size))
        if url:
            return url
    return None
