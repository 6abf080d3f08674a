"""Behavioural interests: interests without an LLM, from what users bought together in the training split.

Items are embedded by their co-occurrence with other items in the training sequences (a window of
neighbouring purchases, PMI-weighted, reduced by truncated SVD), then clustered at a coarse and a fine
granularity (k-means). Each cluster is an interest, named by the words its items' titles share most
(TF-IDF against the other clusters). The coarse and the fine clustering are two "models", so interests
both agree on gain cross-model support when merged. Only `train_sequences` is read: no valid or test
interaction can reach an interest (tests/test_behavioural_interests.py checks it).

`shuffle=True` gives the negative control: the same phrases, each item's set handed to a random other item.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD

from deepinterest.data.dataset import PreparedDataset

STOP = set("the and for with from pack count inch inches size set new black white blue red color colors assorted "
           "box per each one two use all your you not are can this that item items piece pieces".split())


def cooccurrence_vectors(train: list[list[int]], n_items: int, window: int = 3, dims: int = 64, seed: int = 0) -> np.ndarray:
    """One unit vector per item from its PMI-weighted co-occurrence counts (items within `window` of each other)."""
    rows, cols = [], []
    for sequence in train:
        for i, a in enumerate(sequence):
            for b in sequence[i + 1:i + 1 + window]:
                if a != b:
                    rows += [a, b]
                    cols += [b, a]
    counts = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, n_items)).tocsr()
    counts.sum_duplicates()
    total, degree = counts.sum(), np.asarray(counts.sum(axis=1)).ravel() + 1e-9
    coo = counts.tocoo()
    pmi = np.log(coo.data * total / (degree[coo.row] * degree[coo.col]))
    positive = pmi > 0
    matrix = sparse.csr_matrix((pmi[positive], (coo.row[positive], coo.col[positive])), shape=(n_items, n_items))
    vectors = TruncatedSVD(n_components=min(dims, n_items - 1), random_state=seed).fit_transform(matrix)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _words(title: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z\-]{2,}", (title or "").lower()) if w not in STOP]


def cluster_names(labels: np.ndarray, titles: list[str], words: int = 3) -> dict[int, str]:
    """Each cluster's name: its `words` most distinctive title words (frequency in it x rarity across clusters)."""
    per_cluster: dict[int, Counter] = {}
    for label, title in zip(labels, titles):
        per_cluster.setdefault(int(label), Counter()).update(set(_words(title)))
    sizes = Counter(int(label) for label in labels)
    spread = Counter(w for counts in per_cluster.values() for w in counts)
    n = len(per_cluster)
    names = {}
    for label, counts in per_cluster.items():
        shared = [w for w in counts if counts[w] >= min(2, sizes[label])]  # a word of one title names nothing
        ranked = sorted(shared, key=lambda w: (-counts[w] / sizes[label] * np.log((1 + n) / (1 + spread[w])), w))
        names[label] = " ".join(ranked[:words]) or f"group {label}"
    return names


def behavioural_interests(dataset: PreparedDataset, *, coarse: int | None = None, fine: int | None = None,
                          shuffle: bool = False, seed: int = 0) -> list[dict]:
    """Rows of the interests file format (item, interest, model, confidence) for every item seen in training."""
    train = dataset.train_sequences
    n = dataset.n_items
    vectors = cooccurrence_vectors(train, n, seed=seed)
    seen = np.zeros(n, dtype=bool)
    for sequence in train:
        seen[sequence] = True
    titles = [t or "" for t in dataset.items["title"].to_list()]
    rows: dict[int, list[dict]] = {i: [] for i in range(n)}
    for model, k in (("coarse", coarse or max(2, n // 50)), ("fine", fine or max(2, n // 12))):
        fitted = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors[seen])
        labels = np.full(n, -1)
        labels[seen] = fitted.labels_
        names = cluster_names(labels[seen], [titles[i] for i in np.flatnonzero(seen)])
        similarity = (vectors[seen] * fitted.cluster_centers_[fitted.labels_]).sum(1) / (
            np.linalg.norm(fitted.cluster_centers_[fitted.labels_], axis=1) + 1e-9)
        for item, label, sim in zip(np.flatnonzero(seen), fitted.labels_, similarity):
            rows[int(item)].append({"interest": names[int(label)], "model": f"behaviour-{model}",
                                    "confidence": round(float(np.clip(sim, 0.05, 1.0)), 3)})
    owners = list(range(n))
    if shuffle:  # the negative control: each item gets another (random) item's interests
        np.random.default_rng(seed).shuffle(owners)
    ids = dataset.item_ids
    return [{"item": ids[item], **row} for item, source in enumerate(owners) for row in rows[source]]
