"""Generative recommenders through the shared harness: SFT on Semantic IDs, then evaluation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState

from deepinterest.config import ExperimentConfig
from deepinterest.config.runtime import peak_memory_mb
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import claim_output_folder, read_json, write_json
from deepinterest.evaluation.harness import Evaluator
from deepinterest.model.causal_lm import alignment_examples, save_hf_files
from deepinterest.model.constrained import SIDVocabulary, TrieSearch, beam_search_for
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.data.item_text import item_texts
from deepinterest.training.interests import interest_codes, interest_examples, save_codes, with_interests
from deepinterest.training.sft import build_vocabulary, load_trained_model, train_sft


@dataclass
class GenerativeRanker:
    """Ranks by trie-constrained beam search (encoder-decoder or decoder-only, as the model is); an output that
    is not a catalog item is -1, which the harness counts in invalid_rate."""

    model: torch.nn.Module
    vocab: SIDVocabulary
    beams: int
    max_items: int
    search: TrieSearch = field(init=False)

    def __post_init__(self):
        self.device = next(self.model.parameters()).device
        self.search = beam_search_for(self.model, self.vocab, self.device)

    @torch.no_grad()
    def rank(self, users: np.ndarray, histories: list[list[int]], k: int) -> np.ndarray:
        if self.beams < k:
            raise ValueError(f"beam width {self.beams} is below K={k}; raise sft.beams")
        self.model.eval()
        items, _ = self.search.rank(self.model, [self.search.prompt(h, self.max_items) for h in histories], self.beams)
        return items[:, :k].cpu().numpy()


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
    claim_output_folder(out, (data, sid, config.sft.teacher), kind="sft")
    dataset = PreparedDataset(data)
    catalog = SIDCatalog.load(sid, dataset.item_ids)
    vocab, tokenizer = build_vocabulary(catalog, config.sft)
    extra = []
    if config.sft.align_tasks:
        extra = alignment_examples(tokenizer, vocab, item_texts(dataset, config.tokenizer.text), config.sft.align_tasks,
                                   config.sft.max_text_chars)
    if config.sft.interest_tasks:
        codes = interest_codes(dataset, config, progress=progress)
        save_codes(out, codes)  # evaluation rebuilds the same inputs from the run folder
        vocab = with_interests(vocab, codes)
        extra += interest_examples(vocab, config.sft.interest_tasks)
    evaluator = Evaluator(dataset, config.eval)
    started = time.perf_counter()

    def validate(model) -> float:
        ranker = GenerativeRanker(model, vocab, config.sft.beams, config.sft.max_items)
        return evaluator.run(ranker, "valid", progress=False, limit=config.sft.valid_limit).metrics["ndcg@10"]

    model, log = train_sft(dataset.train_sequences, vocab, config.sft, validate, out, seed=config.seed, progress=progress,
                           extra_examples=extra or None)
    if not PartialState().is_main_process:
        return None
    if tokenizer is not None:  # the run folder becomes a loadable Hugging Face checkpoint
        save_hf_files(Path(out), model, tokenizer)
    write_json(Path(out) / "run.json", {"model": "sft", "data": str(Path(data).resolve()), "sid": str(Path(sid).resolve()),
                                        "catalog_sha256": catalog.codes_sha256,
                                        "processes": log["settings"]["processes"],
                                        "config": config.model_dump(mode="json"), "best_epoch": log["best_epoch"],
                                        "epochs": len(log["epochs"]), "train_seconds": log["train_seconds"],
                                        "seconds": round(time.perf_counter() - started, 2), "peak_memory_mb": peak_memory_mb()})
    return evaluate_run(out, progress=progress, model=model)


def trained_catalog(run: Path, info: dict, dataset: PreparedDataset, sid: Path | None = None) -> SIDCatalog:
    """The SID catalog a trained run names (or `sid`), refused if it is not the one the run was trained on."""
    folder = Path(sid or info["sid"])
    catalog = SIDCatalog.load(folder, dataset.item_ids)
    catalog.check_trained_with(info.get("catalog_sha256"), folder, run)
    return catalog


def evaluate_run(run: Path, *, progress: bool = True, model: torch.nn.Module | None = None) -> dict:
    """`deepinterest evaluate --run DIR`: metrics.json, rankings.jsonl and valid_rankings.jsonl of a trained model's folder."""
    run = Path(run)
    info = read_json(run / "run.json")
    config = ExperimentConfig.model_validate(info["config"])
    dataset = PreparedDataset(Path(info["data"]))
    vocab, _ = build_vocabulary(trained_catalog(run, info, dataset), config.sft, checkpoint=run)
    if model is None:
        model = load_trained_model(run, vocab, config.sft)
    ranker = GenerativeRanker(model, vocab, config.sft.beams, config.sft.max_items)
    evaluator = Evaluator(dataset, config.eval)
    started = time.perf_counter()
    valid = evaluator.run(ranker, "valid", progress=progress)
    test = evaluator.run(ranker, "test", progress=progress)
    results = {"valid": valid.metrics, "test": test.metrics}
    evaluator.write(run, results, test, valid)
    info["eval_seconds"] = round(time.perf_counter() - started, 2)
    write_json(run / "run.json", info)
    return results


def collaborative_teacher(run: Path | None, n_items: int, device: torch.device):
    """histories -> every item's score under a trained SASRec (the reward's collab term)."""
    from deepinterest.training.sasrec import load_sasrec

    if run is None:
        raise ValueError("rl.reward.collab needs rl.teacher: a `deepinterest baseline sasrec` run folder on the same data")
    sasrec = load_sasrec(run, n_items, device)
    return lambda histories: sasrec.score(None, histories)


def run_rl(config: ExperimentConfig, sft_run: Path, out: Path, *, progress: bool = True) -> dict:
    """GRPO from a finished SFT run: `config.rl` drives it, everything else comes from the SFT run."""
    import shutil

    from deepinterest.model.causal_lm import with_lora
    from deepinterest.training.grpo import train_grpo
    from deepinterest.training.interests import CODES_FILE, interest_signals

    sft_run, out = Path(sft_run), Path(out)
    if not (sft_run / "run.json").exists() or not (sft_run / "model.safetensors").exists():
        raise FileNotFoundError(f"{sft_run}: not a finished SFT run (run.json and model.safetensors); run `deepinterest sft`")
    claim_output_folder(out, (sft_run, config.rl.interests, config.rl.teacher), kind="rl")
    info = read_json(sft_run / "run.json")
    merged = ExperimentConfig.model_validate(info["config"]).model_copy(update={"rl": config.rl})
    dataset = PreparedDataset(Path(info["data"]))
    vocab, tokenizer = build_vocabulary(trained_catalog(sft_run, info, dataset), merged.sft, checkpoint=sft_run)
    model = load_trained_model(sft_run, vocab, merged.sft)
    if config.rl.lora:
        if merged.sft.backbone != "causal":
            raise ValueError("rl.lora needs a causal backbone (TIGER is trained whole)")
        model = with_lora(model, vocab, merged.sft)
    item_vectors = quality = teacher = None
    if config.rl.interests is not None:
        item_vectors, quality = interest_signals(config.rl.interests, dataset, merged, progress=progress)
    if config.rl.reward.collab > 0:
        teacher = collaborative_teacher(config.rl.teacher, dataset.n_items, next(model.parameters()).device)
    out.mkdir(parents=True, exist_ok=True)
    if (sft_run / CODES_FILE).exists():  # the same model inputs as the SFT run
        shutil.copy(sft_run / CODES_FILE, out / CODES_FILE)
    evaluator = Evaluator(dataset, merged.eval)

    def validate(policy) -> float:
        ranker = GenerativeRanker(policy, vocab, merged.sft.beams, merged.sft.max_items)
        return evaluator.run(ranker, "valid", progress=False, limit=config.rl.valid_limit).metrics["ndcg@10"]

    started = time.perf_counter()
    model, log = train_grpo(model, vocab, dataset.train_sequences, merged, validate, out, item_vectors=item_vectors,
                            quality=quality, teacher=teacher, progress=progress)
    if tokenizer is not None:
        save_hf_files(out, model, tokenizer)
    write_json(out / "run.json", {"model": "rl", "sft": str(sft_run.resolve()), "data": info["data"], "sid": info["sid"],
                                  "catalog_sha256": info.get("catalog_sha256"),
                                  "config": merged.model_dump(mode="json"), "best_step": log["best_step"],
                                  "steps": len(log["steps"]), "train_seconds": log["train_seconds"],
                                  "seconds": round(time.perf_counter() - started, 2), "peak_memory_mb": peak_memory_mb()})
    return evaluate_run(out, progress=progress, model=model)
