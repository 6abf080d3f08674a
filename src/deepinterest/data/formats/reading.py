"""Line-level readers shared by the importers; every parse error names the file and the line."""

from __future__ import annotations

import ast
import gzip
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deepinterest.data.errors import DataFormatError


def open_text(path: Path):
    """Open a plain or gzip-compressed text file (by magic bytes, not by name)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def numbered_lines(path: Path, *, keep_spaces: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line), skipping blank lines.

    Lines are stripped of surrounding whitespace, or only of the line ending with keep_spaces
    (tab-separated files, where a trailing empty field is still a field).
    """
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n") if keep_spaces else line.strip()
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataFormatError(path, f"cannot read file: {exc}") from exc


def json_records(path: Path, *, allow_python_literals: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a JSON-lines file.

    Amazon 2014 metadata lines are Python dict literals (single quotes): with allow_python_literals
    they are parsed by ast.literal_eval, which accepts literals only and never executes code.
    """
    for number, line in numbered_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as json_error:
            if not allow_python_literals:
                raise DataFormatError(path, f"malformed JSON: {json_error.msg}", number) from None
            try:
                record = ast.literal_eval(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
                raise DataFormatError(path, f"malformed record: {exc.__class__.__name__}", number) from None
        if not isinstance(record, dict):
            raise DataFormatError(path, f"expected an object, got {type(record).__name__}", number)
        yield number, record


def json_document(path: Path) -> Any:
    """Load a whole JSON document, reporting the line of a syntax error."""
    try:
        with open_text(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"malformed JSON: {exc.msg}", exc.lineno) from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataFormatError(path, f"cannot read file: {exc}") from exc


# The rule for timestamps (docs/data.md): whole seconds from 1970 to the end of 9999. NaN, infinities, negative
# numbers and later values are refused with the file and line: each is a unit or export mistake, not a time.
MAX_SECONDS = 253402300799


def seconds(value: Any, path: Path, line: int, divisor: int = 1) -> int:
    """A timestamp field (a number or a numeric string; milliseconds with divisor=1000) as whole seconds."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        number = int(value) if isinstance(value, int) else int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise DataFormatError(path, f"timestamp {value!r} is not a finite number", line) from None
    if not 0 <= number // divisor <= MAX_SECONDS:
        raise DataFormatError(path, f"timestamp {value!r} is outside 1970..9999 (seconds"
                                    f"{'' if divisor == 1 else f' x {divisor}'})", line)
    return number // divisor


def require(record: dict[str, Any], keys: tuple[str, ...], path: Path, line: int) -> None:
    """Fail with the file and line when a required field is absent or empty."""
    missing = [key for key in keys if record.get(key) in (None, "")]
    if missing:
        raise DataFormatError(path, f"missing required field(s) {', '.join(missing)}", line)


def text_or_none(value: Any) -> str | None:
    """Flatten a metadata value (string, list of strings, nested lists) to one string or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (list, tuple)):
        parts = [text_or_none(v) for v in value]
        joined = ", ".join(p for p in parts if p)
        return joined or None
    return str(value)


def clean_text(value: Any) -> str | None:
    """text_or_none, with HTML entities decoded (Amazon metadata keeps them: 'AT&amp;T')."""
    text = text_or_none(value)
    return html.unescape(text) if text is not None else None


def find_one(folder: Path, patterns: tuple[str, ...], *, what: str, required: bool = True) -> Path | None:
    """Find the single file in `folder` matching one of `patterns` (glob), in order of preference."""
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if len(matches) > 1:
            names = ", ".join(m.name for m in matches)
            raise DataFormatError(folder, f"several {what} files match {pattern!r}: {names}; pass the file itself")
        if matches:
            return matches[0]
    if required:
        raise DataFormatError(folder, f"no {what} file found (looked for {', '.join(patterns)})")
    return None


def read_id_map(path: Path) -> dict[str, str]:
    """Read a `<original id>\\t<int id>` file (LC-Rec / RecBole exports) as {int id: original id}."""
    mapping: dict[str, str] = {}
    for number, line in numbered_lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise DataFormatError(path, "expected '<original id>\\t<integer id>'", number)
        original, internal = parts
        if internal in mapping:
            raise DataFormatError(path, f"integer id {internal} appears twice", number)
        mapping[internal] = original
    return mapping


def optional_id_map(path: Path) -> dict[str, str]:
    """read_id_map, or {} when the file is absent (the ids are then the original ones)."""
    return read_id_map(path) if path.exists() else {}
