"""Interests computed elsewhere (a hosted LLM's batch job, another paper's release, a catalogue team), read
from JSONL, CSV or Parquet as a mining source beside the LLM backends (`mine.backends: kind: file`).

A file has one row per (item, interest) with columns `item, interest` and optionally `kind` (textual or
visual), `confidence` (0..1, default 1), `model` and `rationale`. Items are the dataset's raw ids (ASINs)
or, with `item_ids: dataset`, its 0-based item indices. Rows of different `model`s count as different
models when interests are merged (cross-model support), as several LLM backends do.

Unknown items are counted, not fatal. A malformed row (no item or interest, a confidence that is not a
number in 0..1, an unknown kind, a line that is not JSON) is reported as `file:line: reason`; by default
the stage then fails before writing anything (`on_malformed: skip` keeps the good rows and reports the rest).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import polars as pl

from deepinterest.config import MiningBackendConfig, MiningConfig
from deepinterest.mining.parse import normalise_phrase, rejection_reason

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
KINDS = ("textual", "visual")
SHOWN_PROBLEMS = 20


class InterestFileError(ValueError):  # a ValueError: the CLI shows it as one error, exit code 2
    """Malformed rows in an interests file: each as `file:line: reason`."""


def _rows(path: Path) -> list[tuple[str, dict | None, str | None]]:
    """(where, row or None, why not) for every row of the file, `where` as `file:line` (`file:row N` for Parquet)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown interests file type {path.suffix!r} (use .jsonl, .csv or .parquet)")
    if kind == "parquet":
        return [(f"{path}:row {n}", row, None) for n, row in enumerate(pl.read_parquet(path).iter_rows(named=True), 1)]
    if kind == "csv":
        frame = pl.read_csv(path, infer_schema=False)  # every column as text: types are checked row by row
        return [(f"{path}:{n}", row, None) for n, row in enumerate(frame.iter_rows(named=True), 2)]  # line 1: header
    rows = []
    with open(path, encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((f"{path}:{n}", None, f"not JSON ({exc.msg})"))
                continue
            rows.append((f"{path}:{n}", value, None) if isinstance(value, dict) else (f"{path}:{n}", None, "not a JSON object"))
    return rows


def _confidence(value) -> float | None:
    if value is None or value == "":
        return 1.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def read_interest_file(source: MiningBackendConfig, item_ids: list[str], mining: MiningConfig,
                       entries: list[tuple[str, dict | None, str | None]] | None = None) -> tuple[pl.DataFrame, dict]:
    """(raw rows as the LLM backends give them: subject, kind, interest, confidence, rationale, backend; a report).
    `entries` are rows made in this run (behavioural interests) instead of the file's, checked the same way."""
    if entries is None:
        path = Path(source.path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no interests file (mine.backends[{source.name}].path)")
        entries = _rows(path)
    else:
        path = f"{source.name} ({source.kind}, computed in this run)"
    known = set(item_ids)
    raw_of = dict(enumerate(item_ids))
    generic = {normalise_phrase(p) for p in mining.generic_phrases}
    rows, problems, unknown, rejected, seen = [], [], Counter(), Counter(), set()
    for where, row, why in entries:
        if row is None:
            problems.append(f"{where}: {why}")
            continue
        item, text = row.get("item"), row.get("interest")
        confidence, kind = _confidence(row.get("confidence")), (row.get("kind") or "textual")
        if item is None or str(item).strip() == "" or not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: needs a non-empty item and interest")
            continue
        if confidence is None:
            problems.append(f"{where}: confidence {row.get('confidence')!r} is not a number in 0..1")
            continue
        if kind not in KINDS:
            problems.append(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
            continue
        item = str(item).strip()
        if source.item_ids == "dataset":
            item = raw_of.get(int(item)) if item.isdigit() else None
            if item is None:
                unknown[str(row.get("item"))] += 1
                continue
        elif item not in known:
            unknown[item] += 1
            continue
        model = f"{source.name}:{row['model']}" if row.get("model") else source.name
        phrase = normalise_phrase(text)
        # The LLM answers' filters (generic, too long, low confidence); duplicates are per item, kind and model.
        reason = rejection_reason(phrase, confidence, set(), generic, mining.max_interest_words, mining.max_interest_chars,
                                  mining.min_confidence)
        key = (item, kind, model, phrase)
        reason = reason or ("duplicate" if key in seen else None)
        if reason:
            rejected[reason] += 1
            continue
        seen.add(key)
        rows.append((item, kind, phrase, confidence, str(row.get("rationale") or ""), model))
    if problems and source.on_malformed == "error":
        shown = "\n".join(problems[:SHOWN_PROBLEMS])
        more = f"\n... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise InterestFileError(f"{len(problems)} malformed row(s) in {path} (nothing was written; "
                                f"`on_malformed: skip` keeps the good rows):\n{shown}{more}")
    frame = pl.DataFrame(rows, schema={"subject": pl.Utf8, "kind": pl.Utf8, "interest": pl.Utf8, "confidence": pl.Float64,
                                       "rationale": pl.Utf8, "backend": pl.Utf8}, orient="row")
    report = {"file": str(path), "rows": len(entries), "interests": frame.height,
              "items": frame["subject"].n_unique() if frame.height else 0,
              "models": sorted(set(frame["backend"].to_list())), "unknown_items": sum(unknown.values()),
              "unknown_examples": sorted(unknown)[:5], "rejected": dict(rejected), "malformed": len(problems),
              "malformed_examples": problems[:SHOWN_PROBLEMS]}
    return frame, report
