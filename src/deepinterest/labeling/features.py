"""What the RLDI classifier knows about one mined (item, interest) pair.

- text_sim: the interest against the item's own text (grounding);
- neighbour_sim: its best match among the interests of the items the same users bought (training
  split only), i.e. behaviour;
- generic_sim: its similarity to the mean of all interests (generic phrases sit near the centre);
- support, confidence: how many models proposed it, and how sure they were;
- specificity: inverse frequency of the phrase over items; words, chars: length.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import sparse

from deepinterest.data.dataset import PreparedDataset


def co_interaction_neighbours(dataset: PreparedDataset, k: int) -> list[np.ndarray]:
    """For each item, the k items that most users also interacted with in their training sequences."""
    rows, cols = [], []
    for user, sequence in enumerate(dataset.train_sequences):
        for item in set(sequence):
            rows.append(user)
            cols.append(item)
    users_items = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                    shape=(len(dataset.train_sequences), dataset.n_items))
    co = (users_items.T @ users_items).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    out = []
    for item in range(dataset.n_items):
        start, end = co.indptr[item], co.indptr[item + 1]
        idx, counts = co.indices[start:end], co.data[start:end]
        order = np.lexsort((idx, -counts))[:k]  # most shared users first, ties by index (deterministic)
        out.append(idx[order])
    return out


def best_match(vectors: np.ndarray, owners: np.ndarray, pair_rows: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """For each pair, the highest cosine between its interest and any interest of its candidate items.

    `owners[j]` is the item index of interest vector j; pairs without candidates (or whose candidates
    have no interests) get nan.
    """
    by_item: dict[int, np.ndarray] = {}
    for j, owner in enumerate(owners):
        by_item.setdefault(int(owner), []).append(j)
    by_item = {item: np.asarray(js) for item, js in by_item.items()}
    out = np.full(len(pair_rows), np.nan, dtype=np.float32)
    for n, (row, items) in enumerate(zip(pair_rows, candidates)):
        pool = [by_item[i] for i in items if int(i) in by_item]
        if pool:
            out[n] = float((vectors[np.concatenate(pool)] @ vectors[row]).max())
    return out


def pair_features(pairs: pl.DataFrame, interest_vectors: np.ndarray, item_vectors: np.ndarray,
                  item_index: np.ndarray, neighbour_sim: np.ndarray) -> pl.DataFrame:
    """`pairs` has item, interest, confidence, support; vectors are L2-normalised, one per pair/item."""
    centre = interest_vectors.mean(0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    phrase_items = pairs.group_by("interest").agg(pl.col("item").n_unique().alias("n"))
    n_items = max(pairs["item"].n_unique(), 1)
    frequency = pairs.join(phrase_items, on="interest", how="left", maintain_order="left")["n"].to_numpy()
    return pl.DataFrame({
        "text_sim": np.einsum("ij,ij->i", interest_vectors, item_vectors[item_index]),
        "neighbour_sim": neighbour_sim,
        "generic_sim": interest_vectors @ centre,
        "support": pairs["support"].cast(pl.Float32).to_numpy(),
        "confidence": pairs["confidence"].cast(pl.Float32).to_numpy(),
        "specificity": np.log(n_items / frequency).astype(np.float32),
        "words": pairs["interest"].str.split(" ").list.len().cast(pl.Float32).to_numpy(),
        "chars": pairs["interest"].str.len_chars().cast(pl.Float32).to_numpy(),
    }).with_columns(pl.all().cast(pl.Float32))
