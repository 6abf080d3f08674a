"""Generative recommenders through the shared harness: SFT on Semantic IDs, then evaluation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState

from deepinterest.config import ExperimentConfig
from deepinterest.config.runtime import peak_memory_mb, resolve_device
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import read_json, write_json
from deepinterest.evaluation.harness import Evaluator
from deepinterest.model.constrained import ConstrainedBeamSearch, SIDVocabulary
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.checkpoint import load_weights
from deepinterest.training.sft import build_model, collate, train_sft


@dataclass
class GenerativeRanker:
    """Ranks by trie-constrained beam search; counts outputs that are not catalog items."""

    model: torch.nn.Module
    vocab: SIDVocabulary
    beams: int
    max_items: int
    outputs: int = 0
    invalid: int = 0
    search: ConstrainedBeamSearch = field(init=False)

    def __post_init__(self):
        self.device = next(self.model.parameters()).device
        self.search = ConstrainedBeamSearch(self.vocab, self.device)

    @torch.no_grad()
    def rank(self, users: np.ndarray, histories: list[list[int]], k: int) -> np.ndarray:
        if self.beams < k:
            raise ValueError(f"beam width {self.beams} is below K={k}; raise sft.beams")
        batch = collate([(self.vocab.history_tokens(h, self.max_items), [0]) for h in histories], self.vocab.pad)
        self.model.eval()
        items, _ = self.search.search(self.model, batch["input_ids"].to(self.device),
                                      batch["attention_mask"].to(self.device), self.beams)
        top = items[:, :k].cpu().numpy()
        self.outputs += top.size
        self.invalid += int((top < 0).sum())
        return top

    @property
    def invalid_rate(self) -> float:
        return self.invalid / self.outputs if self.outputs else 0.0


def run_sft(config: ExperimentConfig, out: Path, *, progress: bool = True) -> dict | None:
    """Train on `config.sft.data` with the catalog `config.sft.sid`, then evaluate (main process only).

    Under `accelerate launch` every process trains; the others return None after training.
    """
    data, sid = config.sft.data, config.sft.sid
    if data is None or sid is None:
        raise ValueError("SFT needs a prepared data folder and a SID catalog: set sft.data and sft.sid or pass --data/--sid")
    for folder, what in ((data, "data folder"), (sid, "SID catalog")):
        if not (Path(folder) / "summary.json").exists():
            raise FileNotFoundError(f"{folder}: not a {what} (no summary.json)")
    dataset = PreparedDataset(data)
    vocab = SIDVocabulary(SIDCatalog.load(sid, dataset.item_ids))
    evaluator = Evaluator(dataset, config.eval)
    started = time.perf_counter()

    def validate(model) -> float:
        ranker = GenerativeRanker(model, vocab, config.sft.beams, config.sft.max_items)
        return evaluator.run(ranker, "valid", progress=False, limit=config.sft.valid_limit).metrics["ndcg@10"]

    model, log = train_sft(dataset.train_sequences, vocab, config.sft, validate, out, seed=config.seed, progress=progress)
    if not PartialState().is_main_process:
        return None
    write_json(Path(out) / "run.json", {"model": "sft", "data": str(Path(data).resolve()), "sid": str(Path(sid).resolve()),
                                        "processes": log["settings"]["processes"],
                                        "config": config.model_dump(mode="json"), "best_epoch": log["best_epoch"],
                                        "epochs": len(log["epochs"]), "train_seconds": log["train_seconds"],
                                        "seconds": round(time.perf_counter() - started, 2), "peak_memory_mb": peak_memory_mb()})
    return evaluate_run(out, progress=progress, model=model)


def evaluate_run(run: Path, *, progress: bool = True, model: torch.nn.Module | None = None) -> dict:
    """`deepinterest evaluate --run DIR`: metrics.json and rankings.jsonl of a trained model's folder."""
    run = Path(run)
    info = read_json(run / "run.json")
    config = ExperimentConfig.model_validate(info["config"])
    dataset = PreparedDataset(Path(info["data"]))
    vocab = SIDVocabulary(SIDCatalog.load(Path(info["sid"]), dataset.item_ids))
    if model is None:
        model = build_model(vocab, config.sft).to(resolve_device(config.sft.device))
        load_weights(run / "model.safetensors", model)
    ranker = GenerativeRanker(model, vocab, config.sft.beams, config.sft.max_items)
    evaluator = Evaluator(dataset, config.eval)
    started = time.perf_counter()
    valid = evaluator.run(ranker, "valid", progress=progress)
    test = evaluator.run(ranker, "test", progress=progress)
    results = {"valid": valid.metrics, "test": test.metrics}
    for split in results.values():
        split["invalid_rate"] = ranker.invalid_rate
    evaluator.write(run, results, test)
    info["eval_seconds"] = round(time.perf_counter() - started, 2)
    write_json(run / "run.json", info)
    return results
