"""RecBole atomic files: `<Name>.inter` (tab-separated, typed header such as `user_id:token`).

Optional beside it: `<Name>.item` (item_id:token plus text fields) and `<Name>.item2id` /
`<Name>.user2id` (`<original id>\\t<int>`), which restore the original ids.
"""

from __future__ import annotations

from pathlib import Path

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats.reading import find_one, numbered_lines, optional_id_map, seconds
from deepinterest.data.schema import ITEM_TEXT_COLUMNS, RawDataset, interactions_frame, items_frame

_ITEM_FIELD_ALIASES = {"title": "title", "description": "description", "brand": "brand",
                       "categories": "categories", "category": "categories", "sales_type": "categories",
                       "image_url": "image_url", "imurl": "image_url"}


def load_recbole(path: Path) -> RawDataset:
    inter = path if path.is_file() else find_one(path, ("*.inter",), what="RecBole .inter")
    stem, folder = inter.stem, inter.parent
    item_ids = optional_id_map(folder / f"{stem}.item2id")
    user_ids = optional_id_map(folder / f"{stem}.user2id")

    header, rows = _atomic_rows(inter)
    user_col, item_col = _column(header, "user_id", inter), _column(header, "item_id", inter)
    time_col = header.get("timestamp")
    users, items, times = [], [], []
    for number, fields in rows:
        users.append(user_ids.get(fields[user_col], fields[user_col]))
        items.append(item_ids.get(fields[item_col], fields[item_col]))
        if time_col is not None:
            times.append(seconds(fields[time_col], inter, number))
    interactions = interactions_frame(users, items, times if time_col is not None else None)

    meta_rows = []
    item_file = folder / f"{stem}.item"
    if item_file.exists():
        meta_header, meta = _atomic_rows(item_file)
        id_col = _column(meta_header, "item_id", item_file)
        fields_at = {_ITEM_FIELD_ALIASES[n]: i for n, i in meta_header.items() if n in _ITEM_FIELD_ALIASES}
        for _, fields in meta:
            row = {c: (fields[fields_at[c]].strip() or None) if c in fields_at else None for c in ITEM_TEXT_COLUMNS}
            meta_rows.append({"item": item_ids.get(fields[id_col], fields[id_col]), **row})
    return RawDataset(interactions, items_frame(meta_rows))


def _atomic_rows(path: Path) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """Parse a RecBole atomic file: header `name:type` fields, then rows of the same width."""
    lines = numbered_lines(path, keep_spaces=True)
    first = next(lines, None)
    if first is None:
        raise DataFormatError(path, "empty file")
    names = [field.split(":", 1)[0].strip().lower() for field in first[1].split("\t")]
    header = {name: index for index, name in enumerate(names)}
    rows = []
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != len(names):
            raise DataFormatError(path, f"expected {len(names)} tab-separated fields, got {len(fields)}", number)
        rows.append((number, fields))
    return header, rows


def _column(header: dict[str, int], name: str, path: Path) -> int:
    if name not in header:
        raise DataFormatError(path, f"header has no {name} column (found {', '.join(header)})", 1)
    return header[name]
