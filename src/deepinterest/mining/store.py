"""Every LLM call of the mining stage and its parsed interests, in one SQLite file (WAL).

A call is keyed by what determines its answer (backend, model, prompt version, rendered input), so a
re-run asks nothing twice and a killed run resumes where it stopped. A call and its interests are
written in one transaction: a crash leaves either both or neither.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from deepinterest.config.offline import cache_root
from deepinterest.data.io import atomic_path
from deepinterest.mining.parse import Interest

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, model TEXT NOT NULL, prompt_version TEXT NOT NULL,
    item TEXT NOT NULL, kind TEXT NOT NULL, raw_text TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
    seconds REAL, error TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS interests (
    key TEXT NOT NULL REFERENCES calls(key) ON DELETE CASCADE, position INTEGER NOT NULL,
    interest TEXT NOT NULL, confidence REAL NOT NULL, rationale TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, position));
CREATE INDEX IF NOT EXISTS calls_item ON calls(kind, item);
"""


ANSWER_ERROR = "answer: "  # prefix of the error of a call that answered, but with nothing usable


def call_key(backend: str, model: str, prompt_version: str, text: str) -> str:
    """sha256 of what decides an answer; JSON-encoded so no two different tuples share a preimage."""
    return hashlib.sha256(json.dumps([backend, model, prompt_version, text]).encode()).hexdigest()


def default_store_path() -> Path:
    return cache_root() / "mining.sqlite"


@dataclass(frozen=True)
class CallRecord:
    key: str
    backend: str
    model: str
    prompt_version: str  # a Prompt.version_tag, e.g. item_v1
    item: str  # item id (or user id for kind "user")
    kind: str  # item, visual, user
    raw_text: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float | None = None
    error: str | None = None  # transport failure (retried on resume) or ANSWER_ERROR + why the answer was unusable
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


CALL_COLUMNS = [f.name for f in fields(CallRecord)]
CALL_VALUES = f"({','.join(CALL_COLUMNS)}) VALUES ({','.join('?' * len(CALL_COLUMNS))})"
INSERT_INTEREST = "INSERT INTO interests VALUES (?, ?, ?, ?, ?)"
# A call that need not be asked again: it answered (even with nothing usable; at temperature 0 asking
# again gives the same answer). Transport failures are not finished: a resume retries them.
FINISHED = f"(error IS NULL OR error LIKE '{ANSWER_ERROR}%')"


class MiningStore:
    """One connection shared by threads under a lock; other processes wait on SQLite's busy timeout."""

    def __init__(self, path: Path | None = None, timeout: float = 60.0):
        path = Path(path) if path else default_store_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock up front,
        # so two writers never deadlock upgrading a read lock).
        self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.lock = threading.Lock()
        try:  # a file that is not SQLite fails here, before anything is written to it
            tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ValueError(f"{path}: not a mining store ({exc}); name another --store") from None
        if tables and "calls" not in tables:  # someone else's database: never add our tables to it
            self.db.close()
            raise ValueError(f"{path}: an SQLite database that is not a mining store; name another --store")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.lock:
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def __enter__(self) -> MiningStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Under the lock, all or nothing."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def put(self, record: CallRecord, interests: list[Interest]) -> None:
        """Write a call and its interests atomically; writing the same key again replaces both."""
        updates = ",".join(f"{c}=excluded.{c}" for c in CALL_COLUMNS[1:])
        rows = [(record.key, i, x.interest, x.confidence, x.rationale) for i, x in enumerate(interests)]
        with self._transaction():
            self.db.execute(f"INSERT INTO calls {CALL_VALUES} ON CONFLICT(key) DO UPDATE SET {updates}", astuple(record))
            self.db.execute("DELETE FROM interests WHERE key = ?", (record.key,))
            self.db.executemany(INSERT_INTEREST, rows)

    def get(self, key: str) -> CallRecord | None:
        with self.lock:
            row = self.db.execute(f"SELECT {','.join(CALL_COLUMNS)} FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else CallRecord(*row)

    def interests(self, key: str) -> list[Interest]:
        with self.lock:
            rows = self.db.execute("SELECT interest, confidence, rationale FROM interests WHERE key = ? "
                                   "ORDER BY position", (key,)).fetchall()
        return [Interest(*row) for row in rows]

    def done_keys(self, keys: list[str]) -> set[str]:
        """The keys among `keys` with a finished call stored. Transport failures are retried; an answer
        that parsed to nothing is kept (at temperature 0 asking again gives the same answer)."""
        done: set[str] = set()
        keys = list(keys)
        with self.lock:
            for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
                chunk = keys[start:start + 500]
                query = f"SELECT key FROM calls WHERE {FINISHED} AND key IN ({','.join('?' * len(chunk))})"
                done.update(key for (key,) in self.db.execute(query, chunk))
        return done

    def rows(self, keys: list[str]) -> dict[str, tuple[CallRecord, list[Interest]]]:
        """The stored calls among `keys` with their interests, for export."""
        found: dict[str, tuple[CallRecord, list[Interest]]] = {}
        keys = list(keys)
        with self.lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self.db.execute(f"SELECT {','.join(CALL_COLUMNS)} FROM calls WHERE key IN ({marks})", chunk):
                    found[row[0]] = (CallRecord(*row), [])
                for key, *values in self.db.execute(f"SELECT key, interest, confidence, rationale FROM interests "
                                                    f"WHERE key IN ({marks}) ORDER BY key, position", chunk):
                    found[key][1].append(Interest(*values))
        return found

    def export(self, path: Path, backends: list[str] | None = None) -> int:
        """Write every finished call (of `backends`, default all) with its interests to gzipped JSON lines (the
        store's portable form: a mining run shared, or kept across machines); returns the number of calls written.
        An existing file is replaced only if it is itself an export (one this command wrote), and only once the
        new one is whole."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            _check_replaceable(path)
        only = f" AND backend IN ({','.join('?' * len(backends))})" if backends else ""
        with self.lock:
            calls = self.db.execute(f"SELECT {','.join(CALL_COLUMNS)} FROM calls WHERE {FINISHED}{only} ORDER BY key",
                                    tuple(backends or ())).fetchall()
            interests: dict[str, list[list]] = {}
            for key, *values in self.db.execute("SELECT key, interest, confidence, rationale FROM interests "
                                                "ORDER BY key, position"):
                interests.setdefault(key, []).append(values)
        # mtime=0: the same calls give the same bytes, so a committed export diffs cleanly.
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                for row in calls:
                    line = dict(zip(CALL_COLUMNS, row), interests=interests.get(row[0], []))
                    out.write((json.dumps(line, ensure_ascii=False) + "\n").encode())
        return len(calls)

    def import_(self, path: Path) -> tuple[int, int]:
        """Add the calls of an `export` file that this store lacks (stored calls are kept as they are).
        Returns (added, already present)."""
        return self.add(read_export(path))

    def add(self, calls: list[tuple[CallRecord, list[tuple[str, float, str]]]]) -> tuple[int, int]:
        """Add calls (from read_export) that the store lacks, all in one transaction; returns (added, present)."""
        added = present = 0
        with self._transaction():
            for record, interests in calls:
                if self.db.execute(f"INSERT OR IGNORE INTO calls {CALL_VALUES}", astuple(record)).rowcount == 0:
                    present += 1
                    continue
                added += 1
                self.db.executemany(INSERT_INTEREST, [(record.key, i, *values) for i, values in enumerate(interests)])
        return added, present

    def stats(self) -> dict[str, int]:
        with self.lock:
            calls, errors, prompt, completion = self.db.execute(
                "SELECT COUNT(*), COUNT(error), COALESCE(SUM(prompt_tokens), 0), "
                "COALESCE(SUM(completion_tokens), 0) FROM calls").fetchone()
            (interests,) = self.db.execute("SELECT COUNT(*) FROM interests").fetchone()
        return {"calls": calls, "errors": errors, "prompt_tokens": prompt, "completion_tokens": completion,
                "interests": interests}


def read_export(path: Path) -> list[tuple[CallRecord, list[tuple[str, float, str]]]]:
    """Every call of an `export` file, checked whole before any is stored: a file that is not gzip, is cut
    short or holds one malformed line is refused, and the store stays as it was."""
    calls = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                calls.append(_parse_export_line(line, f"{path}:{number}"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: not a complete `deepinterest cache export` file ({exc or 'cut short'})") from None
    return calls


def _check_replaceable(path: Path) -> None:
    """An export may replace an earlier export, never another file (a command overwrites only what it wrote)."""
    if path.is_dir() or path.is_symlink():
        raise ValueError(f"{path}: exists and is not a file this command wrote; choose another name")
    try:
        read_export(path)
    except ValueError:
        raise ValueError(f"{path}: exists and is not a `deepinterest cache export` file, so it is left as it is; "
                         "choose another name") from None


_TEXT, _COUNT, _NUMBER = (str,), (int, type(None)), (int, float, type(None))
CALL_TYPES = {"raw_text": (str, type(None)), "prompt_tokens": _COUNT, "completion_tokens": _COUNT, "seconds": _NUMBER,
              "error": (str, type(None))}


def _parse_export_line(line: str, where: str) -> tuple[CallRecord, list[tuple[str, float, str]]]:
    """One line of an export file, checked: a malformed file is refused, never half-trusted."""
    try:
        row = json.loads(line)
        values = {column: row[column] for column in CALL_COLUMNS}
        interests = [(i, c, r) for i, c, r in row["interests"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{where}: not a mining-cache line ({error})") from None
    for column, value in values.items():
        if isinstance(value, bool) or not isinstance(value, CALL_TYPES.get(column, _TEXT)):
            raise ValueError(f"{where}: {column} is {type(value).__name__} {value!r}, which a mining call never holds")
    for interest, confidence, rationale in interests:
        if not (isinstance(interest, str) and isinstance(rationale, str) and isinstance(confidence, (int, float))
                and not isinstance(confidence, bool) and math.isfinite(confidence)):
            raise ValueError(f"{where}: interest {[interest, confidence, rationale]!r} is not [text, number, text]")
    if len(values["key"]) != 64:
        raise ValueError(f"{where}: the call key is not a sha256 hex digest")
    return CallRecord(**values), [(i, float(c), r) for i, c, r in interests]
