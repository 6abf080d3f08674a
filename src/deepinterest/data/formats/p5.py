"""P5-style sequences: `user_sequence.txt` lines `<user> <item_1> ... <item_n>`, oldest first.

Item text, when present beside it: `products_lookup.csv` + `item_id_to_int.json` (full titles) and
`item_textid.txt` (`<item> <short phrase>`, used where no full title exists).
"""

from __future__ import annotations

import csv
from pathlib import Path

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats.reading import json_document, numbered_lines, open_text
from deepinterest.data.schema import RawDataset, interactions_frame, items_frame


def load_p5(path: Path) -> RawDataset:
    folder, sequences = (path.parent, path) if path.is_file() else (path, path / "user_sequence.txt")
    if not sequences.exists():
        raise DataFormatError(sequences, "P5 sequence file not found")
    users: list[str] = []
    items: list[str] = []
    for number, line in numbered_lines(sequences):
        parts = line.split()
        if len(parts) < 2:
            raise DataFormatError(sequences, "expected '<user> <item> [<item> ...]'", number)
        users.extend([parts[0]] * (len(parts) - 1))
        items.extend(parts[1:])
    titles = _full_titles(folder)
    short = _short_titles(folder / "item_textid.txt")
    rows = [
        {"item": item, "title": titles.get(item) or short.get(item)}
        for item in dict.fromkeys(items)
        if titles.get(item) or short.get(item)
    ]
    return RawDataset(interactions_frame(users, items), items_frame(rows))


def _short_titles(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for _, line in numbered_lines(path):
        item, _, phrase = line.partition(" ")
        if phrase.strip():
            out[item] = phrase.strip()
    return out


def _full_titles(folder: Path) -> dict[str, str]:
    lookup, id_map = folder / "products_lookup.csv", folder / "item_id_to_int.json"
    if not (lookup.exists() and id_map.exists()):
        return {}
    to_int = json_document(id_map)
    if not isinstance(to_int, dict):
        raise DataFormatError(id_map, "expected an object mapping item id -> product id")
    names: dict[str, str] = {}
    with open_text(lookup) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or "global_product_id" not in header or "name" not in header:
            raise DataFormatError(lookup, "expected a header with global_product_id and name", 1)
        pid, name = header.index("global_product_id"), header.index("name")
        for row in reader:
            if len(row) != len(header):
                raise DataFormatError(lookup, f"expected {len(header)} fields, got {len(row)}", reader.line_num)
            names[row[pid]] = row[name].strip()
    return {item: names.get(str(pid), "") for item, pid in to_int.items()}
