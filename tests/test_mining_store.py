"""The mining call store: round trips, idempotent re-runs, and a writer killed mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

from deepinterest.mining.parse import Interest
from deepinterest.mining.store import CallRecord, MiningStore, call_key

RECORDS = 3000
PAUSE_AT = 307  # prime: a store that commits every 10 or 100 calls has lost finished calls when it is killed

# Writes RECORDS calls with (i % 5) + 1 interests each, skipping those already done, and prints each one done.
# With "pause", a statement trace stops it in call PAUSE_AT when its call row is written and its interests are
# next (inside put's transaction), says "inside" and waits on stdin: the test's SIGKILL lands there, never at a
# lucky moment, and a put that committed the call apart from its interests would leave a call without them.
WRITER = textwrap.dedent(f"""
    import sys
    from deepinterest.mining.parse import Interest
    from deepinterest.mining.store import CallRecord, MiningStore, call_key

    store = MiningStore(sys.argv[1])
    now = {{"i": -1}}

    def pause(statement):
        if now["i"] == {PAUSE_AT} and statement.startswith("INSERT INTO interests") and store.db.in_transaction:
            print("inside", flush=True)
            sys.stdin.readline()

    if sys.argv[2:] == ["pause"]:
        store.db.set_trace_callback(pause)
    keys = [call_key("openai", "qwen", "item_v1", f"item {{i}}") for i in range({RECORDS})]
    done = store.done_keys(keys)
    for i, key in enumerate(keys):
        if key in done:
            continue
        record = CallRecord(key, "openai", "qwen", "item_v1", f"I{{i}}", "item", raw_text="{{}}", prompt_tokens=100,
                            completion_tokens=i)
        now["i"] = i
        store.put(record, [Interest(f"interest {{i}}.{{n}}", 0.5, "why") for n in range(i % 5 + 1)])
        print(i, flush=True)
""")


def record(key: str, **changes) -> CallRecord:
    return CallRecord(key=key, backend="openai", model="qwen2.5-7b", prompt_version="item_v1", item="B00ABC",
                      kind="item", raw_text='{"interests": []}', prompt_tokens=120, completion_tokens=40,
                      seconds=1.5, **changes)


def test_call_key_depends_on_every_part():
    base = call_key("openai", "qwen", "item_v1", "Title: pens")
    assert len(base) == 64 and base == call_key("openai", "qwen", "item_v1", "Title: pens")
    others = {call_key("vllm", "qwen", "item_v1", "Title: pens"), call_key("openai", "llama", "item_v1", "Title: pens"),
              call_key("openai", "qwen", "item_v2", "Title: pens"), call_key("openai", "qwen", "item_v1", "Title: pen"),
              call_key("openai", "qwen\nitem_v1", "", "Title: pens")}
    assert base not in others and len(others) == 5


def test_put_get_round_trip_and_reput_replaces(tmp_path):
    store = MiningStore(tmp_path / "mining.sqlite")
    key = call_key("openai", "qwen2.5-7b", "item_v1", "Title: stapler")
    assert store.get(key) is None and store.interests(key) == []
    interests = [Interest("home office", 0.9, "desk tool"), Interest("school projects", 0.4, "")]
    store.put(record(key), interests)
    assert store.get(key) == record(key, created=store.get(key).created)
    assert store.interests(key) == interests

    store.put(record(key), interests)  # a re-run of the same call
    store.put(record(key), interests[:1])  # a retry that answered differently replaces, never appends
    assert store.interests(key) == interests[:1]
    assert store.stats() == {"calls": 1, "errors": 0, "prompt_tokens": 120, "completion_tokens": 40, "interests": 1}


def test_failed_calls_are_not_done_until_a_retry_succeeds(tmp_path):
    store = MiningStore(tmp_path / "mining.sqlite")
    ok, failed = call_key("a", "m", "item_v1", "x"), call_key("a", "m", "item_v1", "y")
    store.put(record(ok), [Interest("pens", 0.5)])
    store.put(record(failed, error="no JSON answer"), [])
    assert store.done_keys([ok, failed, "unknown"]) == {ok}
    assert store.stats()["errors"] == 1
    store.put(record(failed), [Interest("paper", 0.5)])
    assert store.done_keys([ok, failed]) == {ok, failed} and store.stats()["errors"] == 0


def test_threads_share_one_store(tmp_path):
    store = MiningStore(tmp_path / "mining.sqlite")

    def write(start: int) -> None:
        for i in range(start, start + 50):
            store.put(record(call_key("a", "m", "item_v1", str(i))), [Interest(f"i{i}", 0.5)])

    threads = [threading.Thread(target=write, args=(n * 50,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.stats()["calls"] == 200 and store.stats()["interests"] == 200


def test_a_reader_never_holds_up_the_writer(tmp_path):
    """WAL: a reader in the middle of a read (an export while a miner runs) neither blocks a put nor sees it
    half-way; in a rollback journal the put would wait for the reader, here past a 0.2 s busy timeout."""
    path = tmp_path / "mining.sqlite"
    store = MiningStore(path, timeout=0.2)
    store.put(record(call_key("a", "m", "item_v1", "0")), [Interest("pens", 0.5)])
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    count = "SELECT (SELECT COUNT(*) FROM calls), (SELECT COUNT(*) FROM interests)"
    assert reader.execute(count).fetchone() == (1, 1)  # its snapshot is taken
    store.put(record(call_key("a", "m", "item_v1", "1")), [Interest("paper", 0.5), Interest("ink", 0.5)])
    assert reader.execute(count).fetchone() == (1, 1)  # still its snapshot
    reader.execute("COMMIT")
    assert reader.execute(count).fetchone() == (2, 3)
    reader.close()
    store.close()


def check_consistent(path) -> int:
    """Every stored call has exactly its interests (none missing, no orphans); returns the call count."""
    db = sqlite3.connect(path)
    orphans = db.execute("SELECT COUNT(*) FROM interests WHERE key NOT IN (SELECT key FROM calls)").fetchone()[0]
    assert orphans == 0
    counts = db.execute("SELECT c.item, COUNT(i.key) FROM calls c LEFT JOIN interests i ON i.key = c.key "
                        "GROUP BY c.key").fetchall()
    for item, count in counts:
        assert count == int(item[1:]) % 5 + 1, item
    db.close()
    return len(counts)


def test_killed_writer_leaves_a_consistent_store_and_resumes(tmp_path):
    path = tmp_path / "mining.sqlite"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "pause"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in writer.stdout:  # blocks until the writer is inside (a writer that never pauses fails below)
        if line == "inside\n":
            break
        lines.append(line.strip())
    os.kill(writer.pid, signal.SIGKILL)  # without warning, in the middle of a transaction
    writer.wait()
    for stream in (writer.stdin, writer.stdout):
        stream.close()
    assert writer.returncode == -signal.SIGKILL and lines == [str(i) for i in range(PAUSE_AT)]

    written = check_consistent(path)
    assert written == PAUSE_AT  # every finished call, and nothing of the one cut off

    resumed = subprocess.run([sys.executable, "-c", WRITER, str(path)], capture_output=True, text=True, check=True)
    assert len(resumed.stdout.split()) == RECORDS - written  # only the missing calls were made again
    assert check_consistent(path) == RECORDS
    stats = MiningStore(path).stats()
    assert stats["calls"] == RECORDS and stats["interests"] == sum(i % 5 + 1 for i in range(RECORDS))
