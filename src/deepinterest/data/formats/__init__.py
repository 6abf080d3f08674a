"""Importers for the real formats of the field, registered by name.

Each loader takes a path (a folder or a file) and returns a RawDataset; it raises DataFormatError
naming the file and line of anything malformed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from deepinterest.data.errors import UnknownFormatError
from deepinterest.data.schema import RawDataset


@dataclass(frozen=True)
class Format:
    name: str
    module: str
    function: str
    description: str

    def load(self, path: Path) -> RawDataset:
        loader: Callable[[Path], RawDataset] = getattr(import_module(self.module), self.function)
        return loader(Path(path))


_PKG = "deepinterest.data.formats"
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("amazon2014", f"{_PKG}.amazon", "load_amazon2014",
               "raw Amazon 2014: reviews_*.json.gz + meta_*.json.gz (meta lines are Python literals)"),
        Format("amazon2018", f"{_PKG}.amazon", "load_amazon2018",
               "raw Amazon 2018: <Category>.json.gz (or _5) + meta_<Category>.json.gz"),
        Format("amazon2023", f"{_PKG}.amazon", "load_amazon2023",
               "raw Amazon 2023: <Category>.jsonl + meta_<Category>.jsonl (gz accepted)"),
        Format("p5", f"{_PKG}.p5", "load_p5",
               "P5-style user_sequence.txt (+ item_textid.txt, products_lookup.csv + item_id_to_int.json)"),
        Format("lcrec", f"{_PKG}.lcrec", "load_lcrec",
               "LC-Rec/LETTER: <Name>.inter.json (+ .item.json, .item2id, .user2id)"),
        Format("recbole", f"{_PKG}.recbole", "load_recbole",
               "RecBole atomic files: <Name>.inter (+ .item, item2id/user2id maps)"),
        Format("csv", f"{_PKG}.tabular", "load_csv",
               "generic CSV: user,item[,timestamp] (+ items.csv with item,title,...)"),
        Format("parquet", f"{_PKG}.tabular", "load_parquet",
               "generic Parquet: user,item[,timestamp] (+ items.parquet)"),
    )
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UnknownFormatError(f"unknown format {name!r}; known formats: {known}") from None
