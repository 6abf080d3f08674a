"""Seconds per training epoch of SASRec, TIGER and the decoder backbone, in one run at one thread count.

    .venv/bin/python benchmarks/sft_speed.py --data runs/office/data --sid runs/office/sid-cf \\
        --tiger configs/tiger-office-cpu.yaml --decoder configs/decoder-office.yaml configs/decoder-office-distill.yaml \\
        --sasrec configs/sasrec-office.yaml \\
        --threads 1 --epochs 2 --out benchmarks/results/sft_speed.json

Each model trains with its real trainer (training/sasrec.py, training/sft.py) for `--epochs` epochs
with validation switched off; the figure is the median epoch's training time. Tokens are what the
model reads in an epoch, pads excluded: item positions for SASRec, encoder + decoder tokens for TIGER
(its one-example-per-position expansion), stream tokens for the decoder. Ratios are against SASRec
and TIGER measured in this same run. With `--rounds R` SASRec and the decoders are measured R times in
turn (TIGER once: it is slow and far off): each round gives a paired ratio, and `epoch_vs_sasrec` is their
median, so a neighbour's burst that lands on one model's epochs moves one round, not the figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from inputs import PREPARED_DATA, SID_CATALOG, existing_file

from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_json
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.sasrec import train_sasrec
from deepinterest.training.sft import build_vocabulary, train_sft, training_batches


def sft_speed(config_path: Path, dataset: PreparedDataset, sid: Path, epochs: int, threads: int, overrides: list[str]) -> dict:
    config = load_config(config_path, [f"sft.epochs={epochs}", f"sft.eval_every={epochs + 1}", f"sft.threads={threads}",
                                       "sft.device=cpu", *overrides]).sft
    vocab, _ = build_vocabulary(SIDCatalog.load(sid, dataset.item_ids), config)
    started = time.perf_counter()  # building the examples (the decoder's soft targets, where a teacher is set)
    examples, loader, _ = training_batches(dataset.train_sequences, vocab, config, [], 42)
    prepare = time.perf_counter() - started
    tokens = sum(len(a) + len(b) for a, b in examples) if config.backbone == "tiger" else sum(len(example[0]) for example in examples)
    with tempfile.TemporaryDirectory() as out:
        _, log = train_sft(dataset.train_sequences, vocab, config, lambda model: 0.0, Path(out), progress=False)
    seconds = statistics.median(e["seconds"] for e in log["epochs"])
    return {"config": str(config_path), "backbone": config.backbone, "examples": len(examples), "batches": len(loader),
            "prepare_seconds": round(prepare, 2),
            "tokens_per_epoch": tokens, "epoch_seconds": [e["seconds"] for e in log["epochs"]],
            "seconds_per_epoch": round(seconds, 2), "tokens_per_second": round(tokens / seconds)}


def sasrec_speed(config_path: Path, dataset: PreparedDataset, epochs: int, threads: int) -> dict:
    config = load_config(config_path, [f"sasrec.epochs={epochs}", f"sasrec.threads={threads}", "sasrec.device=cpu"]).sasrec
    with tempfile.TemporaryDirectory() as out:
        _, log = train_sasrec(dataset.train_sequences, dataset.n_items, config, lambda model: 0.0, Path(out), progress=False)
    tokens = sum(min(len(s), config.max_len + 1) - 1 for s in dataset.train_sequences if len(s) >= 2)
    seconds = statistics.median(e["train_seconds"] for e in log["epochs"])
    return {"config": str(config_path), "tokens_per_epoch": tokens, "epoch_seconds": [e["train_seconds"] for e in log["epochs"]],
            "seconds_per_epoch": round(seconds, 2), "tokens_per_second": round(tokens / seconds)}


def pooled(runs: list[dict]) -> dict:
    """One model's rounds as one entry: every epoch's seconds, their median, the first round's other fields."""
    epochs = [seconds for run in runs for seconds in run["epoch_seconds"]]
    seconds = statistics.median(epochs)
    return {**runs[0], "epoch_seconds": epochs, "seconds_per_epoch": round(seconds, 2),
            "tokens_per_second": round(runs[0]["tokens_per_epoch"] / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=PREPARED_DATA, required=True, help="prepared data folder")
    parser.add_argument("--sid", type=SID_CATALOG, required=True, help="SID catalog folder")
    parser.add_argument("--tiger", type=existing_file, default=Path("configs/tiger-office-cpu.yaml"))
    parser.add_argument("--decoder", type=existing_file, nargs="+", default=[Path("configs/decoder-office.yaml")],
                        help="one or more decoder configs (the first is `decoder` in the JSON; all are in `decoders`)")
    parser.add_argument("--sasrec", type=existing_file, default=Path("configs/sasrec-office.yaml"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="SASRec and the decoders measured this many times in turn")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override for both SFT configs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = PreparedDataset(args.data)
    load_before = os.getloadavg()  # other jobs on the machine show here: a busy figure says so
    rounds = []
    for _ in range(args.rounds):
        rounds.append({"sasrec": sasrec_speed(args.sasrec, dataset, args.epochs, args.threads),
                       "decoders": {str(path): sft_speed(path, dataset, args.sid, args.epochs, args.threads, args.overrides)
                                    for path in args.decoder}})
    tiger = sft_speed(args.tiger, dataset, args.sid, args.epochs, args.threads, args.overrides)
    sasrec = pooled([r["sasrec"] for r in rounds])
    decoders = {}
    for path in map(str, args.decoder):
        run = decoders[path] = pooled([r["decoders"][path] for r in rounds])
        ratios = [r["decoders"][path]["seconds_per_epoch"] / r["sasrec"]["seconds_per_epoch"] for r in rounds]
        run["epoch_vs_sasrec"] = round(statistics.median(ratios), 2)
        if args.rounds > 1:
            run["epoch_vs_sasrec_rounds"] = [round(ratio, 2) for ratio in ratios]
        run["tiger_epoch_vs_this"] = round(tiger["seconds_per_epoch"] / run["seconds_per_epoch"], 2)
    decoder = decoders[str(args.decoder[0])]
    result = {"data": str(args.data), "threads": args.threads, "epochs": args.epochs, "rounds": args.rounds,
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
              "sasrec": sasrec, "tiger": tiger, "decoder": decoder, "decoders": decoders,
              "decoder_epoch_vs_sasrec": decoder["epoch_vs_sasrec"], "tiger_epoch_vs_decoder": decoder["tiger_epoch_vs_this"]}
    write_json(args.out, result)
    print(f"seconds per epoch: SASRec {sasrec['seconds_per_epoch']}, TIGER {tiger['seconds_per_epoch']}")
    for path, run in decoders.items():
        print(f"  {path}: {run['seconds_per_epoch']} ({run['epoch_vs_sasrec']}x SASRec, TIGER / it {run['tiger_epoch_vs_this']}x; "
              f"examples built in {run['prepare_seconds']} s)")


if __name__ == "__main__":
    main()
