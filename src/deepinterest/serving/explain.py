"""Why an item was recommended: the user's deep interests (from their history) that the item serves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from deepinterest.config import EmbeddingConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.embedding import embed_texts
from deepinterest.data.item_text import kept_interests

THRESHOLD = 0.6  # cosine of the default embedder; about 30% of Office top-1 recommendations reach it


class Explainer:
    def __init__(self, dataset: PreparedDataset, interests: Path, embedding: EmbeddingConfig, per_item: int = 5):
        table = kept_interests(interests)
        index = {item: i for i, item in enumerate(dataset.item_ids)}
        self.by_item: dict[int, list[tuple[str, float]]] = defaultdict(list)
        for item, phrase, confidence in table.sort("confidence", descending=True, maintain_order=True).iter_rows():
            if item in index and len(self.by_item[index[item]]) < per_item:
                self.by_item[index[item]].append((phrase, float(confidence)))
        phrases = sorted({p for pairs in self.by_item.values() for p, _ in pairs})
        vectors, _ = embed_texts(phrases, embedding, label="embedding interests", progress=False) if phrases else (None, None)
        self.vector = dict(zip(phrases, vectors)) if phrases else {}

    def user_interests(self, history: list[int], top: int = 8) -> list[tuple[str, float]]:
        """The history's interests, weighted by confidence and recency (the latest item counts most)."""
        weight: dict[str, float] = defaultdict(float)
        for position, item in enumerate(history, 1):
            for phrase, confidence in self.by_item.get(item, []):
                weight[phrase] += confidence * position / len(history)
        return sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))[:top]

    def pairs(self, history: list[int], item: int, interests: list[tuple[str, float]] | None = None) -> list[dict]:
        """Every (user interest, item interest) pair with its similarity, the closest first."""
        matches = []
        for user_phrase, weight in interests if interests is not None else self.user_interests(history):
            for item_phrase, _ in self.by_item.get(item, []):
                similarity = float(np.dot(self.vector[user_phrase], self.vector[item_phrase]))
                matches.append({"user_interest": user_phrase, "item_interest": item_phrase,
                                "similarity": round(similarity, 3), "weight": round(weight, 3)})
        return sorted(matches, key=lambda m: (-m["similarity"], -m["weight"]))

    def explain(self, history: list[int], items: list[int], shown: int = 3) -> list[dict]:
        """Per item: the matching interest pairs (similarity at least THRESHOLD); else the closest pair,
        marked weak, so a reader still sees why (or why not). `text` says it in one line."""
        interests = self.user_interests(history)
        return [_explanation(self.pairs(history, item, interests), shown) for item in items]


def _explanation(pairs: list[dict], shown: int) -> dict:
    strong = [m for m in pairs if m["similarity"] >= THRESHOLD][:shown]
    if strong:
        return {"matches": strong, "weak": False, "text": ", ".join(map(_show, strong))}
    if pairs:
        return {"matches": pairs[:1], "weak": True, "text": f"no interest pair reaches {THRESHOLD}; the closest is {_show(pairs[0])}"}
    return {"matches": [], "weak": True, "text": "the item or the history has no kept interests"}


def _show(match: dict) -> str:
    return f"{match['user_interest']} ~ {match['item_interest']} ({match['similarity']:.2f})"
