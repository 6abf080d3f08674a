"""RQ-VAE and RQ-KMeans side by side on one dataset: collision rate, code use, perplexity, time.

    .venv/bin/python benchmarks/tokenizer.py beauty --out runs/bench/tok-beauty [--set tokenizer.rqvae.epochs=200]

Prepares the dataset if needed, embeds item text once (the embedding cache serves the second
method), runs both quantizers and writes `tokenizer.json` with each one's summary and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from deepinterest.config import DataConfig, load_config
from deepinterest.data.io import write_json
from deepinterest.data.prepare import prepare
from deepinterest.tokenizer.stage import tokenize

KEYS = ("collision_rate", "max_bucket", "codebook_usage", "perplexity", "embed_seconds", "quantize_seconds", "seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="experiment YAML (default configs/tokenize-<dataset>.yaml if present)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--methods", default="rqvae,rqkmeans")
    args = parser.parse_args()
    default = Path(__file__).parents[1] / "configs" / f"tokenize-{args.dataset}.yaml"
    config_path = args.config or (default if default.exists() else None)

    data = args.out / "data"
    if not (data / "summary.json").exists():
        prepare(DataConfig(source=args.dataset), data)
    report = {"dataset": args.dataset, "config": str(config_path), "overrides": args.overrides, "methods": {},
              "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()}}
    for method in args.methods.split(","):
        config = load_config(config_path, [*args.overrides, f"tokenizer.method={method}"])
        started = time.perf_counter()
        summary = tokenize(data, args.out / method, config)
        report["methods"][method] = {**{k: summary[k] for k in KEYS}, "wall_seconds": round(time.perf_counter() - started, 2),
                                     "embedding_cache_hits": summary["embedding"]["cache_hits"]}
        print(method, json.dumps(report["methods"][method]))
    write_json(args.out / "tokenizer.json", report)


if __name__ == "__main__":
    main()
