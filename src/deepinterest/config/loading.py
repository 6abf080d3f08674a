"""Load an ExperimentConfig from YAML and apply `dotted.key=value` overrides from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deepinterest.config.schema import ExperimentConfig


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    raw = read_raw(Path(path)) if path is not None else {}
    return ExperimentConfig.model_validate(apply_overrides(raw, overrides or []))


def read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML mapping; `extends: other.yaml` (relative to this file) is read first and overridden key by key,
    so an ablation states only what it changes."""
    path = path.resolve()
    if path in seen:
        raise ValueError(f"{path}: `extends` loops back to itself")
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    return deep_merge(read_raw(path.parent / base, (*seen, path)), raw)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set `a.b.c=value` pairs; values are parsed as YAML scalars/lists (`3`, `true`, `[1, 5]`)."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {override!r} is not of the form key=value")
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = _child(node, part, override)
        last = parts[-1]
        if isinstance(node, list):  # mine.backends.0.max_tokens=256: a list entry by its index
            node[_index(node, last, override)] = yaml.safe_load(value)
        else:
            node[last] = yaml.safe_load(value)
    return raw


def _index(node: list, part: str, override: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ValueError(f"override {override!r}: {part} is not an index of a list of {len(node)}")
    return int(part)


def _child(node, part: str, override: str):
    child = node[_index(node, part, override)] if isinstance(node, list) else node.setdefault(part, {})
    if not isinstance(child, (dict, list)):
        raise ValueError(f"override {override!r}: {part} is not a section")
    return child
