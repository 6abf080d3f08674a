"""Pop and SASRec on a registered dataset, from nothing: prepare, train, evaluate; writes one JSON.

    .venv/bin/python benchmarks/baselines.py beauty --out runs/bench/beauty [--set sasrec.epochs=50]

The JSON holds test/valid metrics, wall time and peak memory of each model, the machine, and the
ratio of each model's NDCG@10 to Pop's, measured in the same run.
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
from deepinterest.data.io import read_json, write_json
from deepinterest.data.prepare import prepare
from deepinterest.evaluation.baselines import run_pop, run_sasrec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="experiment YAML (default configs/sasrec-<dataset>.yaml if present)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config_path = args.config or Path(__file__).parents[1] / "configs" / f"sasrec-{args.dataset}.yaml"
    config = load_config(config_path if config_path.exists() else None, args.overrides)

    data = args.out / "data"
    started = time.perf_counter()
    summary = prepare(config.data or DataConfig(source=args.dataset), data)
    report = {"dataset": args.dataset, "summary": {k: summary[k] for k in ("users", "items", "interactions")},
              "prepare_seconds": round(time.perf_counter() - started, 2), "models": {},
              "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "torch": torch.__version__}}
    for name, run in (("pop", run_pop), ("sasrec", run_sasrec)):
        results = run(data, args.out / name, config)
        info = read_json(args.out / name / "run.json")
        report["models"][name] = {"test": results["test"], "valid": results["valid"],
                                  "seconds": info["seconds"], "peak_memory_mb": info["peak_memory_mb"]}
        if name == "sasrec":
            log = read_json(args.out / name / "train_log.json")
            report["models"][name].update(epochs=len(log["epochs"]), best_epoch=log["best_epoch"])
    pop = report["models"]["pop"]["test"]["ndcg@10"]
    report["ndcg@10_ratio_to_pop"] = {m: r["test"]["ndcg@10"] / pop if pop else None for m, r in report["models"].items()}
    write_json(args.out / "baselines.json", report)
    print(json.dumps(report["models"]["sasrec"]["test"], indent=2))


if __name__ == "__main__":
    main()
