"""LC-Rec / LETTER / MQL4GRec style: `<Name>.inter.json` = {user: [item, ...]} oldest first.

Optional beside it: `<Name>.item.json` = {item: {title, description, brand, categories}} and
`<Name>.item2id` / `<Name>.user2id` (`<original id>\\t<int>`), which restore the original ids.
"""

from __future__ import annotations

from pathlib import Path

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats.reading import clean_text, find_one, json_document, optional_id_map
from deepinterest.data.schema import ITEM_TEXT_COLUMNS, RawDataset, interactions_frame, items_frame


def load_lcrec(path: Path) -> RawDataset:
    inter = path if path.is_file() else find_one(path, ("*.inter.json",), what="LC-Rec .inter.json")
    stem = inter.name.removesuffix(".inter.json")
    folder = inter.parent
    item_ids = optional_id_map(folder / f"{stem}.item2id")
    user_ids = optional_id_map(folder / f"{stem}.user2id")

    sequences = json_document(inter)
    if not isinstance(sequences, dict):
        raise DataFormatError(inter, "expected an object mapping user -> list of items")
    users: list[str] = []
    items: list[str] = []
    for user, seq in sequences.items():
        if not isinstance(seq, list) or not all(isinstance(i, (int, str)) for i in seq):
            raise DataFormatError(inter, f"user {user!r}: expected a list of item ids")
        users.extend([user_ids.get(str(user), str(user))] * len(seq))
        items.extend(item_ids.get(str(i), str(i)) for i in seq)

    rows = []
    meta_path = folder / f"{stem}.item.json"
    if meta_path.exists():
        meta = json_document(meta_path)
        if not isinstance(meta, dict):
            raise DataFormatError(meta_path, "expected an object mapping item -> metadata")
        for key, record in meta.items():
            if not isinstance(record, dict):
                raise DataFormatError(meta_path, f"item {key!r}: expected an object")
            row = {c: clean_text(record.get(c)) for c in ITEM_TEXT_COLUMNS}
            rows.append({"item": item_ids.get(str(key), str(key)), **row})
    return RawDataset(interactions_frame(users, items), items_frame(rows))

