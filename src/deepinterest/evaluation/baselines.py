"""Baselines run through the shared harness: most-popular and SASRec."""

from __future__ import annotations

import time
from pathlib import Path

from deepinterest.config import ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import claim_output_folder, write_json
from deepinterest.evaluation.harness import Evaluator, ScoreRanker
from deepinterest.model.popularity import PopularityModel
from deepinterest.config.runtime import peak_memory_mb, resolve_device
from deepinterest.training.sasrec import train_sasrec


def run_pop(data: Path, out: Path, config: ExperimentConfig, *, progress: bool = True) -> dict:
    dataset = PreparedDataset(data)
    claim_output_folder(out, (data,), kind="pop")
    started = time.perf_counter()
    model = PopularityModel(dataset.train_popularity)
    ranker = ScoreRanker(model.score, exclude_history=config.eval.exclude_history)
    results = Evaluator(dataset, config.eval).evaluate(ranker, out, progress=progress)
    _write_run_info(out, "pop", data, config, started)
    return results


def run_sasrec(data: Path, out: Path, config: ExperimentConfig, *, progress: bool = True) -> dict:
    dataset = PreparedDataset(data)
    claim_output_folder(out, (data,), kind="sasrec")
    started = time.perf_counter()
    evaluator = Evaluator(dataset, config.eval)
    device = resolve_device(config.sasrec.device)

    def validate(model) -> float:
        ranker = ScoreRanker(model.score, exclude_history=config.eval.exclude_history)
        return evaluator.run(ranker, "valid", progress=False).metrics["ndcg@10"]

    model, log = train_sasrec(dataset.train_sequences, dataset.n_items, config.sasrec, validate, out,
                              seed=config.seed, device=device, progress=progress)
    ranker = ScoreRanker(model.score, exclude_history=config.eval.exclude_history)
    results = evaluator.evaluate(ranker, out, progress=progress)
    _write_run_info(out, "sasrec", data, config, started, best_epoch=log["best_epoch"],
                    epochs=len(log["epochs"]), train_seconds=log["train_seconds"])
    return results


def _write_run_info(out: Path, model: str, data: Path, config: ExperimentConfig, started: float, **extra) -> None:
    write_json(Path(out) / "run.json", {
        "model": model,
        "data": str(data),
        "config": config.model_dump(mode="json"),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_memory_mb": peak_memory_mb(),
        **extra,
    })
