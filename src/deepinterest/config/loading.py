"""Load an ExperimentConfig from YAML and apply `dotted.key=value` overrides from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deepinterest.config.schema import ExperimentConfig


MAX_CONFIG_BYTES = 1 << 20  # configuration files are small; a bigger one is a mistake (or an attack)


class _FlatLoader(yaml.SafeLoader):
    """safe_load without aliases: configs are small and flat, and `*name` is how a YAML bomb multiplies."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a config",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str, offset: int | None = None):
    """YAML without aliases; a syntax error names `where` and the line:column (1-based), or, for a value
    `offset` characters into a --set option, its column in the option."""
    try:
        return yaml.load(text, Loader=_FlatLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is None:
            position = ""
        elif offset is None:
            position = f":{mark.line + 1}:{mark.column + 1}"
        else:
            position = f" (column {offset + mark.index + 1})"
        raise ValueError(f"{where}{position}: malformed YAML: {problem}") from None


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    raw = read_raw(Path(path)) if path is not None else {}
    return ExperimentConfig.model_validate(apply_overrides(raw, overrides or []))


def read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML mapping; `extends: other.yaml` (relative to this file) is read first and overridden key by key,
    so an ablation states only what it changes."""
    path = path.resolve()
    if path in seen:
        raise ValueError(f"{path}: `extends` loops back to itself")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes; a config is at most {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    raw = parse_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base.strip():
        raise ValueError(f"{path}: `extends` must name one YAML file, not {base!r}")
    parent = path.parent / base
    if not parent.is_file():
        raise FileNotFoundError(f"{path}: `extends: {base}` names {parent}, which does not exist")
    return deep_merge(read_raw(parent, (*seen, path)), raw)


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
        parsed = parse_yaml(value, f"--set {override!r}", offset=len(key) + 1)
        if isinstance(node, list):  # mine.backends.0.max_tokens=256: a list entry by its index
            node[_index(node, last, override)] = parsed
        else:
            node[last] = parsed
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
