"""Registered benchmark datasets: names for the folders of the shared data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deepinterest.data.errors import UnknownFormatError


@dataclass(frozen=True)
class RegisteredDataset:
    name: str
    folder: str
    format: str
    description: str


DATASETS: dict[str, RegisteredDataset] = {
    d.name: d
    for d in (
        RegisteredDataset("office", "amazon2014-office", "lcrec", "Amazon 2014 Office, 5-core, full item text"),
        RegisteredDataset("beauty", "amazon2014-beauty", "p5", "Amazon 2014 Beauty, 5-core, P5/TIGER sequences, titles"),
        RegisteredDataset("sports", "amazon2014-sports", "p5", "Amazon 2014 Sports, 5-core, P5/TIGER sequences, short titles"),
        RegisteredDataset("instruments", "amazon2018-instruments", "lcrec", "Amazon 2018 Instruments, 5-core, ids only"),
    )
}


def data_root() -> Path:
    """$DEEPINTEREST_DATA, else the first `shared/data` found beside the working directory or the repo."""
    env = os.environ.get("DEEPINTEREST_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    for candidate in (Path.cwd() / ".." / "shared" / "data", Path.cwd() / "shared" / "data", repo / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError("no data folder: set DEEPINTEREST_DATA or place shared/data beside the checkout")


def resolve(name: str) -> tuple[Path, str]:
    """The folder and format of a registered dataset."""
    try:
        entry = DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise UnknownFormatError(f"unknown dataset {name!r}; registered datasets: {known} (or pass --format and --path)") from None
    return data_root() / entry.folder, entry.format
