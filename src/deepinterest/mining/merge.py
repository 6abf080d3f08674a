"""Merge what several models said about one subject: near-duplicate phrases become one interest.

"home office setup" from one model and "home-office set up" from another are one interest with
support 2. Phrases are normalised, embedded, and clustered greedily by cosine similarity: the most
confident phrase founds a cluster and names it, and every later phrase joins the first cluster whose
founder it resembles above the threshold.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from deepinterest.config import EmbeddingConfig
from deepinterest.data.embedding import embed_texts
from deepinterest.mining.parse import normalise_phrase

RAW_COLUMNS = ("subject", "kind", "interest", "confidence", "rationale", "backend")
MERGED_SCHEMA = {"subject": pl.Utf8, "kind": pl.Utf8, "interest": pl.Utf8, "confidence": pl.Float64,
                 "rationale": pl.Utf8, "models": pl.List(pl.Utf8), "support": pl.Int32}


def merge_interests(raw: pl.DataFrame, threshold: float, embedding: EmbeddingConfig,
                    progress: bool = True) -> pl.DataFrame:
    """`raw` has RAW_COLUMNS, one row per interest per call; the result one row per merged interest,
    with the models that proposed it, how many (support) and their mean confidence."""
    if raw.height == 0:
        return pl.DataFrame(schema=MERGED_SCHEMA)
    raw = raw.with_columns(pl.col("interest").map_elements(normalise_phrase, return_dtype=pl.Utf8).alias("phrase"))
    # Subjects keep their first-seen order (the dataset's); within one, the most confident phrase comes first.
    raw = (raw.with_row_index("row").with_columns(pl.col("row").min().over("subject").alias("first"))
           .filter(pl.col("phrase") != "")
           .sort(["first", "kind", "confidence", "row"], descending=[False, False, True, False]))
    phrases = raw["phrase"].unique(maintain_order=True).to_list()
    vectors, _ = embed_texts(phrases, embedding, label="embedding interests", progress=progress)
    index = {phrase: i for i, phrase in enumerate(phrases)}
    rows: list[dict] = []
    for (subject, kind), group in raw.group_by(["subject", "kind"], maintain_order=True):
        rows.extend(_clusters(subject, kind, group, vectors, index, threshold))
    return pl.DataFrame(rows, schema=MERGED_SCHEMA)


def _clusters(subject: str, kind: str, group: pl.DataFrame, vectors: np.ndarray, index: dict[str, int],
              threshold: float) -> list[dict]:
    founders: list[int] = []  # vector rows of each cluster's founding phrase
    members: list[list[dict]] = []
    for entry in group.iter_rows(named=True):  # most confident first: founders are the surest phrasing
        vector = vectors[index[entry["phrase"]]]
        similar = vectors[founders] @ vector if founders else np.empty(0)
        hit = int(np.argmax(similar)) if similar.size and similar.max() >= threshold else None
        if hit is None:
            founders.append(index[entry["phrase"]])
            members.append([entry])
        else:
            members[hit].append(entry)
    out = []
    for cluster in members:
        founder, models = cluster[0], sorted({m["backend"] for m in cluster})
        out.append({"subject": subject, "kind": kind, "interest": founder["phrase"],
                    "confidence": round(float(np.mean([m["confidence"] for m in cluster])), 4),
                    "rationale": founder["rationale"], "models": models, "support": len(models)})
    return out
