"""Interest quality of each offline LLM (and of their merge) on the same items, measured, not assumed.

    .venv/bin/python benchmarks/miner_quality.py --data runs/office/data --items 400 \
        --config configs/mining/three-offline.yaml --out benchmarks/results/miner_quality.json

For each backend of the config alone, and for all of them merged, the first `--items` items are mined
(from the store: run `deepinterest mine` with the same config first; a call that is not stored is made
live and counted under `live_calls`) and labeled by RLDI with behaviour labels, exactly as the pipeline
does. Per row: the valid-answer rate, interests per item, words per interest, the share of distinct
phrases, the share of answers' phrases too generic to keep, the share of kept interests that echo the
prompt's few-shot answers word for word (and of items with such an echo), RLDI's behaviour-label positive rate and its
held-out AUC. `--sample K` adds K random items with every model's interests under letters (the key is
written apart), so a reader can judge them blind.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import polars as pl
from inputs import PREPARED_DATA, existing_file

from deepinterest.config import load_config
from deepinterest.config.offline import cache_root
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_json
from deepinterest.labeling.stage import label
from deepinterest.mining.parse import normalise_phrase, parse_interests
from deepinterest.mining.prompts import load_prompt
from deepinterest.mining.stage import item_jobs, mine


def generic_share(store_texts: list[str]) -> float:
    """Of every phrase the answers proposed, the share that the parser dropped as generic."""
    kept = generic = 0
    for text in store_texts:
        parsed = parse_interests(text)
        kept += len(parsed.interests)
        generic += sum(reason == "generic" for _, reason in parsed.rejected)
    return round(generic / max(1, kept + generic), 4)


def example_interests(version: str) -> set[str]:
    """The interests of the item prompt's few-shot answers, normalised as the parser normalises kept interests:
    a model that copies them has not read the item."""
    prompt = load_prompt("item", version)
    return {normalise_phrase(entry["interest"]) for example in prompt.few_shot for entry in example["answer"]["interests"]}


def echo_shares(table: pl.DataFrame, examples: set[str]) -> dict:
    """Of the kept interests, the share that is a few-shot answer's interest; of the items, the share with one."""
    flagged = table.with_columns(pl.col("interest").is_in(list(examples)).alias("echo"))
    per_item = flagged.group_by("item").agg(pl.col("echo").any())
    return {"example_echo_share": round(float(flagged["echo"].mean() or 0.0), 4),
            "example_echo_items": round(float(per_item["echo"].mean() or 0.0), 4)}


def stored_answers(store: Path, backend: str, items: set[str]) -> list[str]:
    import sqlite3

    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("select item, raw_text from calls where backend = ? and kind = 'item'", (backend,)).fetchall()
    return [text for item, text in rows if item in items and text]


def measure(data: Path, work: Path, config, name: str, items: int) -> tuple[dict, pl.DataFrame]:
    mined = mine(data, work / name / "mine", config, limit=items, progress=False)
    labeled = label(data, work / name / "mine", work / name / "label", config, progress=False)
    table = pl.read_parquet(work / name / "mine" / "item_interests.parquet")
    row = {"items": mined["item_jobs"], "live_calls": mined["calls"], "valid_rate": mined["valid_rate"],
           "interests_per_mined_item": mined["interests_per_mined_item"],
           "words_per_interest": round(table["interest"].str.split(" ").list.len().mean(), 2),
           "distinct_share": round(table["interest"].n_unique() / max(1, table.height), 4),
           "rldi_positive_rate": labeled["positive_rate"], "rldi_heldout_auc": labeled["auc"],
           "rldi_keep_rate": labeled["keep_rate"]} | echo_shares(table, example_interests(config.mine.prompt_version))
    return row, table


def blind_sample(tables: dict[str, pl.DataFrame], k: int, seed: int) -> tuple[list[dict], dict]:
    shared = set.intersection(*(set(t["item"].to_list()) for t in tables.values()))
    rng = random.Random(seed)
    order = list(tables)
    rng.shuffle(order)
    key = {chr(65 + i): name for i, name in enumerate(order)}
    letters = {name: letter for letter, name in key.items()}
    sample = []
    for item in rng.sample(sorted(shared), min(k, len(shared))):
        row = {"item": item}
        for name in sorted(tables, key=lambda n: letters[n]):
            row[letters[name]] = tables[name].filter(pl.col("item") == item)["interest"].to_list()
        sample.append(row)
    return sample, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=PREPARED_DATA, required=True)
    parser.add_argument("--config", type=existing_file, default=Path("configs/mining/three-offline.yaml"))
    parser.add_argument("--items", type=int, required=True, help="the first N items (those every model has mined)")
    parser.add_argument("--sample", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path("runs/bench/miner-quality"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    config = load_config(args.config)
    rows, tables = {}, {}
    first_items = {job.subject for job in item_jobs(PreparedDataset(args.data), config.mine, args.items)}
    for backend in config.mine.backends:
        alone = config.model_copy(update={"mine": config.mine.model_copy(update={"backends": [backend]})})
        rows[backend.name], tables[backend.name] = measure(args.data, args.work, alone, backend.name, args.items)
        store = config.mine.store or cache_root() / "mining.sqlite"
        rows[backend.name]["generic_share"] = generic_share(stored_answers(store, backend.name, first_items))
        print(backend.name, rows[backend.name], flush=True)
    rows["merged"], _ = measure(args.data, args.work, config, "merged", args.items)
    print("merged", rows["merged"], flush=True)
    sample, key = blind_sample(tables, args.sample, config.seed)
    write_json(args.out, {"items": args.items, "config": str(args.config), "prompt_version": config.mine.prompt_version,
                          "rows": rows, "blind_sample": sample, "blind_key": key})


if __name__ == "__main__":
    main()
