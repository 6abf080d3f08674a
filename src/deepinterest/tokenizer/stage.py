"""`deepinterest tokenize`: item embeddings (+ deep interests) -> RQ-VAE or RQ-KMeans -> SID catalog."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import polars as pl
from safetensors.numpy import load_file

from deepinterest.config import ExperimentConfig, TokenizerConfig
from deepinterest.config.runtime import resolve_device
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import atomic_dir, check_output_folder, write_json
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.data.embedding import embed_texts
from deepinterest.tokenizer.fusion import fuse
from deepinterest.data.item_text import interest_texts, item_texts
from deepinterest.tokenizer.quantize import usage_and_perplexity
from deepinterest.tokenizer.report import plot_code_usage
from deepinterest.tokenizer.rqkmeans import train_rqkmeans
from deepinterest.tokenizer.rqvae import train_rqvae


class NonFiniteEmbeddingError(ValueError):
    """Embeddings with NaN or infinite values: quantizing them would silently corrupt the SIDs."""


def item_vectors(dataset: PreparedDataset, config: ExperimentConfig, interests: Path | None,
                 progress: bool = True) -> tuple[np.ndarray, dict]:
    """The vectors to quantize: text embeddings, fused with interest embeddings and collaborative vectors when given."""
    tok = config.tokenizer
    texts = item_texts(dataset, tok.text)
    vectors, info = embed_texts(texts, tok.embedding, label="item text", progress=progress)
    info = {"embedding": info, "empty_text_items": sum(1 for t in texts if not t)}
    interest_vectors = collab = None
    if interests is not None:
        words = interest_texts(Path(interests), dataset.item_ids)
        has = np.array([bool(w) for w in words])
        interest_vectors = np.zeros_like(vectors)
        if has.any():
            found, _ = embed_texts([w for w in words if w], tok.embedding, label="interests", progress=progress)
            interest_vectors = np.zeros((len(words), found.shape[1]), dtype=np.float32)
            interest_vectors[has] = found
        info.update(items_with_interests=int(has.sum()))
    if tok.collab is not None:
        collab = collaborative_vectors(tok.collab, dataset.n_items)
        info.update(collab=str(tok.collab))
    if interest_vectors is not None or collab is not None:
        vectors = fuse(vectors, tok.fusion, interests=interest_vectors, collab=collab, seed=config.seed)
        info.update(fusion=tok.fusion.method)
    check_finite(vectors, dataset.item_ids)
    return vectors, info


def collaborative_vectors(run: Path, n_items: int) -> np.ndarray:
    """A SASRec run's item embeddings, one row per item (its row 0 is padding).

    Read from the run's weights file, not through the model code: the tokenizer stays upstream of the
    models. The run must be trained on the training split of this same data (`deepinterest baseline sasrec`).
    """
    file = Path(run) / "model.safetensors"
    if not file.exists():
        raise FileNotFoundError(f"{run}: not a finished SASRec run (no model.safetensors); run `deepinterest baseline sasrec`")
    table = load_file(str(file)).get("item_embedding.weight")
    if table is None:
        raise ValueError(f"{file}: no item_embedding.weight; tokenizer.collab needs a SASRec run")
    if table.shape[0] != n_items + 1:
        raise ValueError(f"{run}: trained on {table.shape[0] - 1} items, not these {n_items}; train it on the same data")
    return table[1:].astype(np.float32)


def check_finite(vectors: np.ndarray, item_ids: list[str]) -> None:
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        shown = ", ".join(item_ids[i] for i in bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise NonFiniteEmbeddingError(f"NaN or infinite embeddings for {len(bad)} item(s): {shown}{more}")


def codes_per_level(tok: TokenizerConfig, n_items: int) -> int:
    """codebook_size, with `auto` resolved for a catalog of n_items: the power of two nearest n_items / 10
    (at least 16). Why: the decoder picks the first code from the history and then an item among the
    code's members; on Beauty (12,101 items) 256 codes leave 47 items a code and the model falls back
    on their popularity, while Office's 9.5 a code rank as well as SASRec does."""
    if tok.codebook_size != "auto":
        return tok.codebook_size
    return max(16, 2 ** round(math.log2(max(n_items, 1) / 10)))


def quantize(vectors: np.ndarray, config: ExperimentConfig, size: int, progress: bool = True) -> tuple[np.ndarray, dict]:
    """`levels` codes of `size` (codes_per_level) for each vector."""
    tok = config.tokenizer
    last = {"last_level": tok.last_level, "sinkhorn_epsilon": tok.sinkhorn_epsilon, "sinkhorn_iters": tok.sinkhorn_iters}
    if tok.method == "rqkmeans":
        return train_rqkmeans(vectors, tok.levels, size, tok.rqkmeans, seed=config.seed, **last)
    return train_rqvae(vectors, tok.levels, size, tok.rqvae, seed=config.seed,
                       device=resolve_device(tok.device), progress=progress, **last)


def tokenize(data: Path, out: Path, config: ExperimentConfig, interests: Path | None = None,
             progress: bool = True) -> dict:
    started = time.perf_counter()
    dataset = PreparedDataset(data)
    check_output_folder(out, (data, interests, config.tokenizer.collab), kind="tokenize")
    tok = config.tokenizer
    vectors, info = item_vectors(dataset, config, interests, progress)
    embedded = time.perf_counter()
    size = codes_per_level(tok, dataset.n_items)
    codes, train_log = quantize(vectors, config, size, progress)
    catalog = SIDCatalog.build(codes, size, dataset.item_ids)
    usage, perplexity = usage_and_perplexity(catalog.codes, size)
    summary = {
        "items": catalog.n_items, "levels": catalog.levels, "codebook_size": size,
        **catalog.collision_stats(), "codebook_usage": usage, "perplexity": perplexity,
        "suffix_size": catalog.suffix_size, "vocab_size": catalog.vocab_size, "method": tok.method,
        "last_level": tok.last_level,
        "interests": str(interests) if interests else None, **info,
        "embed_seconds": round(embedded - started, 2), "quantize_seconds": round(time.perf_counter() - embedded, 2),
    }
    with atomic_dir(out, (data, interests, config.tokenizer.collab), kind="tokenize") as stage:
        catalog.save(stage)
        pl.DataFrame({
            "item_idx": np.arange(catalog.n_items, dtype=np.int32), "item": dataset.item_ids,
            "sid": [catalog.sid_string(i) for i in range(catalog.n_items)],
            "codes": catalog.codes.tolist(), "suffix": catalog.suffix,
        }).write_parquet(stage / "sids.parquet")
        np.save(stage / "item_vectors.npy", vectors, allow_pickle=False)
        plot_code_usage(catalog.codes, size, stage / "code_usage.png",
                        f"{tok.method}: {catalog.n_items} items, collision rate {summary['collision_rate']:.3f}")
        write_json(stage / "train_log.json", train_log)
        write_json(stage / "config.json", config.model_dump(mode="json"))
        summary["seconds"] = round(time.perf_counter() - started, 2)
        write_json(stage / "summary.json", summary)
    return summary
