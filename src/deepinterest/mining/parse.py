"""Turn a model's answer into clean interests; bad output becomes an error message, never an exception.

Models wrap JSON in prose or markdown fences, stop mid-answer at the token limit, answer with a bare
list, or write "high" for a confidence. The parser salvages what is usable and says what it dropped.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from deepinterest.config.schema import DEFAULT_GENERIC_PHRASES

DEFAULT_CONFIDENCE = 0.5
# Some models rate in words; anything else unreadable gets DEFAULT_CONFIDENCE.
WORD_CONFIDENCE = {"very high": 0.95, "high": 0.85, "medium": 0.6, "moderate": 0.6, "low": 0.3, "very low": 0.1}
MAX_SCAN_CHARS = 32_000  # scanning is quadratic at worst; answers are a few KB and come last
THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)  # reasoning models' hidden chain of thought


@dataclass(frozen=True)
class Interest:
    interest: str
    confidence: float
    rationale: str = ""


@dataclass
class ParseResult:
    interests: list[Interest]
    error: str | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (phrase as written, reason)
    salvaged: bool = False  # the JSON was dug out of prose, fences or a truncated answer


class RawInterest(BaseModel):
    """One entry as the model wrote it; confidence and rationale are coerced, the phrase must be text."""

    model_config = ConfigDict(extra="ignore")
    interest: str
    confidence: float = DEFAULT_CONFIDENCE
    rationale: str = ""

    @field_validator("confidence", mode="before")
    @classmethod
    def _readable_confidence(cls, value: Any) -> float:
        return read_confidence(value)

    @field_validator("rationale", mode="before")
    @classmethod
    def _text_rationale(cls, value: Any) -> str:
        return "" if value is None else str(value)


class RawAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    interests: list[Any]


def read_confidence(value: Any) -> float:
    """A number in [0, 1] from whatever the model wrote: 0.8, "0.8", "80%", "high"; else the default."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_CONFIDENCE
    if isinstance(value, str):
        text = value.strip().lower()
        if text in WORD_CONFIDENCE:
            return WORD_CONFIDENCE[text]
        percent = text.endswith("%")
        try:
            value = float(text.rstrip("%").strip()) / (100 if percent else 1)
        except ValueError:
            return DEFAULT_CONFIDENCE
    if not isinstance(value, int | float) or math.isnan(value):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, float(value)))


def normalise_phrase(text: str) -> str:
    """Lowercase, punctuation to spaces (keeping - ' & + / inside words), spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s\-'&+/]", " ", text).replace("_", " ")
    text = " ".join(text.split())
    return re.sub(r"^[\W_]+|[\W_]+$", "", text)


def json_values(text: str, openers: str = "{["):
    """Yield (value, start, end) for every JSON object or array that starts at an opener, by position."""
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(text) if char in openers):
        try:
            value, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        yield value, start, end


def as_answer(value: Any) -> list[Any] | None:
    """The list of interest entries if `value` is an answer: {"interests": [...]} or a bare list."""
    if isinstance(value, list):
        return value if all(isinstance(v, str | dict) for v in value) and value else None
    if isinstance(value, dict):
        try:
            return RawAnswer.model_validate(value).interests
        except ValidationError:
            return None
    return None


def find_entries(raw_text: str) -> tuple[list[Any] | None, bool]:
    """(entries, salvaged): the first JSON value in the text that is an answer (the whole text, or one
    inside prose and fences), else the finished entries of an answer cut off at the token limit."""
    raw_text = THINK_BLOCK.sub("", raw_text)[-MAX_SCAN_CHARS:]
    for value, start, end in json_values(raw_text):
        if (entries := as_answer(value)) is not None:
            return entries, bool(raw_text[:start].strip() or raw_text[end:].strip())
    offset = raw_text.find('"interests"')
    if offset < 0:
        return None, False
    pieces, done = [], 0
    for value, start, end in json_values(raw_text[offset:], openers="{"):
        if start >= done and isinstance(value, dict) and "interest" in value:
            pieces.append(value)
            done = end  # objects nested inside this entry are not entries
    return (pieces, True) if pieces else (None, False)


def parse_interests(raw_text: str | None, *, max_words: int = 8, max_chars: int = 80, min_confidence: float = 0.0,
                    generic_phrases: list[str] | None = None) -> ParseResult:
    """Validated, normalised, de-duplicated interests from a model's answer."""
    if not raw_text or not raw_text.strip():
        return ParseResult([], error="empty answer")
    entries, salvaged = find_entries(raw_text)
    if entries is None:
        return ParseResult([], error=f"no JSON answer with interests found in: {raw_text[:200]!r}")
    generic = {normalise_phrase(p) for p in (DEFAULT_GENERIC_PHRASES if generic_phrases is None else generic_phrases)}
    kept, rejected, seen = [], [], set()
    for entry in entries:
        try:
            raw = RawInterest.model_validate({"interest": entry} if isinstance(entry, str) else entry)
        except ValidationError:
            rejected.append((json.dumps(entry)[:200], "malformed entry"))
            continue
        phrase = normalise_phrase(raw.interest)
        reason = rejection_reason(phrase, raw.confidence, seen, generic, max_words, max_chars, min_confidence)
        if reason:
            rejected.append((raw.interest, reason))
            continue
        seen.add(phrase)
        kept.append(Interest(phrase, raw.confidence, raw.rationale.strip()))
    return ParseResult(kept, None, rejected, salvaged)


def rejection_reason(phrase: str, confidence: float, seen: set[str], generic: set[str], max_words: int,
                     max_chars: int, min_confidence: float) -> str | None:
    if not phrase:
        return "empty"
    if phrase in generic:
        return "generic"
    if len(phrase.split()) > max_words or len(phrase) > max_chars:
        return "too long"
    if phrase in seen:
        return "duplicate"
    if confidence < min_confidence:
        return "low confidence"
    return None


def parse_verdict(raw_text: str | None) -> tuple[bool | None, str]:
    """The LLM judge's (keep?, reason); None when no verdict can be read."""
    for value, _, _ in json_values((raw_text or "")[-MAX_SCAN_CHARS:], "{"):
        if isinstance(value, dict) and str(value.get("verdict", "")).strip().lower() in ("keep", "drop"):
            return value["verdict"].strip().lower() == "keep", str(value.get("reason") or "")
    return None, ""
