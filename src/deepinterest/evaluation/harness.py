"""The one evaluation harness every model goes through: full ranking over all items.

A model plugs in as a `Ranker`: given examples (users and their histories) it returns the top-K item
indices per example. Score-based models wrap a scoring function with `ScoreRanker`; generative
models (later stages) return their decoded lists directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from rich.progress import Progress
from sklearn.feature_extraction.text import TfidfVectorizer

from deepinterest.config import EvalConfig
from deepinterest.data.dataset import EvalExamples, PreparedDataset
from deepinterest.data.io import write_json, write_jsonl
from deepinterest.evaluation.metrics import (
    catalog_coverage,
    hit_rate_and_ndcg,
    intra_list_diversity,
    popularity_percentile,
)
from deepinterest.model.scores import mask_history

BEYOND_ACCURACY_K = 10


class Ranker(Protocol):
    def rank(self, users: np.ndarray, histories: list[list[int]], k: int) -> np.ndarray:
        """Top-k item indices for each example, best first (shape: examples x k); -1 marks an invalid output."""


@dataclass
class ScoreRanker:
    """Turns `score(users, histories) -> (batch x n_items) tensor` into a Ranker.

    Ties are broken towards the lower item index (a stable sort), so rankings are deterministic.
    With exclude_history, items in the example's history are never ranked.
    """

    score: Callable[[np.ndarray, list[list[int]]], torch.Tensor]
    exclude_history: bool = False

    @torch.no_grad()
    def rank(self, users: np.ndarray, histories: list[list[int]], k: int) -> np.ndarray:
        scores = self.score(users, histories).float()
        if self.exclude_history:
            mask_history(scores, histories)
        return deterministic_topk(scores, k).cpu().numpy()


def deterministic_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k indices per row, ties broken towards the lower index: the first k of a stable sort.

    topk is much cheaper than a full sort; only rows with a tie across the k-th place (common for
    count-based scores) fall back to the stable sort.
    """
    values, indices = torch.topk(scores, k, dim=1)
    # Order the k winners by (score desc, index asc): sort by index, then stable-sort by score.
    by_index = torch.sort(indices, dim=1).indices
    indices, values = indices.gather(1, by_index), values.gather(1, by_index)
    indices = indices.gather(1, torch.sort(values, dim=1, descending=True, stable=True).indices)
    tied = (scores >= values.min(dim=1, keepdim=True).values).sum(dim=1) > k
    if tied.any():
        indices[tied] = torch.sort(scores[tied], dim=1, descending=True, stable=True).indices[:, :k]
    return indices


@dataclass
class SplitResult:
    metrics: dict[str, float]
    ranked: np.ndarray
    examples: EvalExamples = field(repr=False)


class Evaluator:
    def __init__(self, dataset: PreparedDataset, config: EvalConfig | None = None):
        self.dataset = dataset
        self.config = config or EvalConfig()
        self.k = max(max(self.config.ks), BEYOND_ACCURACY_K)
        if dataset.n_items < self.k:  # refused here, before any training, not by topk after it
            where = getattr(dataset, "folder", "the dataset")
            raise ValueError(f"{where}: the catalog has {dataset.n_items} items, fewer than K={self.k} "
                             f"(the largest of eval.ks={list(self.config.ks)} and {BEYOND_ACCURACY_K}): import more items")
        self._item_vectors = None

    def run(self, ranker: Ranker, split: str, *, progress: bool = True, limit: int | None = None) -> SplitResult:
        """Rank a split's examples; with `limit`, a fixed random sample of that many (see EvalExamples.sample)."""
        examples = self.dataset.examples(split)
        if limit is not None:  # a fixed random sample: the first users are no fair sample
            examples = examples.sample(limit)
        n = len(examples)
        batch = self.config.batch_size
        ranked = np.empty((n, self.k), dtype=np.int64)
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(f"ranking {split}", total=n)
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                out = np.asarray(ranker.rank(examples.users[start:stop], examples.histories[start:stop], self.k))
                if out.shape != (stop - start, self.k):
                    raise ValueError(f"ranker returned shape {out.shape}, expected {(stop - start, self.k)}")
                ranked[start:stop] = out
                bar.advance(task, stop - start)
        if (ranked < -1).any() or (ranked >= self.dataset.n_items).any():
            raise ValueError("ranker returned item indices outside the catalog (only -1 may mark an invalid output)")
        targets = examples.targets
        return SplitResult(self.metrics(ranked, targets), ranked, examples)

    def metrics(self, ranked: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        k = BEYOND_ACCURACY_K
        out = hit_rate_and_ndcg(ranked, targets, self.config.ks)
        out[f"coverage@{k}"] = catalog_coverage(ranked, self.dataset.n_items, k)
        out[f"pop_percentile@{k}"] = popularity_percentile(ranked, self.dataset.train_popularity, k)
        if self.item_vectors is not None:
            ild = intra_list_diversity(ranked, self.item_vectors, k)
            if ild is not None:
                out[f"ild@{k}"] = ild
        out["invalid_rate"] = float((ranked < 0).mean())  # outputs that are no catalog item: misses
        out["examples"] = int(len(targets))
        return out

    @property
    def item_vectors(self):
        """TF-IDF vectors of item text for diversity; None when the dataset has no item text."""
        if self._item_vectors is None:
            texts = self.dataset.item_text()
            if sum(bool(t) for t in texts) >= 2:
                self._item_vectors = TfidfVectorizer(min_df=1, sublinear_tf=True).fit_transform(texts).tocsr()
        return self._item_vectors

    def evaluate(self, ranker: Ranker, out: Path | None = None, *, progress: bool = True) -> dict[str, dict]:
        """Valid and test metrics; with `out`, writes metrics.json and rankings.jsonl there."""
        valid = self.run(ranker, "valid", progress=progress)
        test = self.run(ranker, "test", progress=progress)
        results = {"valid": valid.metrics, "test": test.metrics}
        if out is not None:
            self.write(Path(out), results, test, valid)
        return results

    def write(self, out: Path, results: dict[str, dict], test: SplitResult, valid: SplitResult | None = None) -> None:
        """metrics.json, rankings.jsonl (test) and valid_rankings.jsonl (valid: what selection compares on)."""
        items, users = self.dataset.item_ids, self.dataset.user_ids
        for name, split in (("rankings.jsonl", test), ("valid_rankings.jsonl", valid)):
            if split is None:
                continue
            rows = (
                {"user": users[u], "target": items[t], "ranked": [items[i] if i >= 0 else None for i in ranked[:20]]}
                for u, t, ranked in zip(split.examples.users, split.examples.targets, split.ranked)
            )
            write_jsonl(out / name, rows)
        write_json(out / "metrics.json", results)
