"""Deep interests inside SFT for the from-scratch backbones (tiger, decoder), which have no text vocabulary:
interests become tokens.

Curated interests are embedded and clustered (k-means) into `sft.interest_codes` interest codes, each
a token after the SID tokens. Three tasks use them:
- sid_to_interests: an item's SID -> its interest codes;
- interests_to_sid: an item's interest codes -> its SID;
- user_interests: every history (training and ranking alike) starts with the codes that its items'
  interests add up to, weighted by recency, so the model reads the user's interests beside the items.
On the decoder backbone the codes ride in the stream instead: each item's codes follow its SID, in training
and ranking alike (user_interests and sid_to_interests; the latter puts the loss on them).
The codes are saved in the run folder (`interest_codes.json`), so evaluation rebuilds the same input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from deepinterest.config import ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.embedding import embed_texts
from deepinterest.data.io import read_json, write_json
from deepinterest.data.item_text import kept_interests
from deepinterest.model.constrained import SIDVocabulary

CODES_FILE = "interest_codes.json"


@dataclass
class InterestVocabulary(SIDVocabulary):
    item_codes: tuple[tuple[int, ...], ...] = ()  # per item index, its interest codes, most confident first
    n_codes: int = 0
    user_codes: int = 0  # codes put before each history (0: none)
    inline_codes: bool = False  # the decoder backbone: each item's codes follow its SID in the history

    def item_block(self, item: int) -> list[int]:
        sid = self.item_sid_in_history(item)
        return [*sid, *self.code_tokens(self.item_codes[item])] if self.inline_codes else sid

    @property
    def token_end(self) -> int:
        return self.offset + self.catalog.vocab_size + self.n_codes

    def code_tokens(self, codes) -> list[int]:
        start = self.offset + self.catalog.vocab_size
        return [start + c for c in codes]

    def user_code_list(self, history: list[int], max_items: int) -> list[int]:
        """The codes of the history's items, the most recent items weighing most."""
        weights: Counter = Counter()
        recent = history[-max_items:]
        for position, item in enumerate(recent, 1):
            for code in self.item_codes[item]:
                weights[code] += position / len(recent)
        return [c for c, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[: self.user_codes]]

    def history_tokens(self, history: list[int], max_items: int) -> list[int]:
        base = super().history_tokens(history, max_items)
        if not self.user_codes:
            return base
        return [*self.code_tokens(self.user_code_list(history, max_items)), *base]


def interest_codes(dataset: PreparedDataset, config: ExperimentConfig, progress: bool = True) -> dict:
    """k-means codes of the curated interests, and each item's codes (as saved in CODES_FILE)."""
    from sklearn.cluster import KMeans

    sft = config.sft
    if sft.interests is None:
        raise ValueError("sft.interest_tasks need sft.interests (a `deepinterest label` folder); "
                         "`deepinterest run` sets it")
    table = kept_interests(sft.interests).filter(pl.col("item").is_in(set(dataset.item_ids)))
    phrases = table["interest"].unique(maintain_order=True).to_list()
    if len(phrases) < 2:
        raise ValueError(f"{sft.interests}: fewer than two kept interests; nothing to cluster")
    vectors, _ = embed_texts(phrases, config.tokenizer.embedding, label="embedding interests", progress=progress)
    n_codes = min(sft.interest_codes, len(phrases))
    labels = KMeans(n_clusters=n_codes, n_init=1, random_state=config.seed).fit_predict(vectors)
    code_of = dict(zip(phrases, labels.tolist()))
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    item_codes: list[list[int]] = [[] for _ in dataset.item_ids]
    for item, phrase, _ in table.sort("confidence", descending=True, maintain_order=True).iter_rows():
        codes = item_codes[index[item]]
        if code_of[phrase] not in codes and len(codes) < sft.interests_per_item:
            codes.append(code_of[phrase])
    # The decoder and items backbones read a sequence causally: a prefix built from the whole sequence would show
    # each position its future items' interests, so there the user's interests enter item by item, with each item.
    inline = sft.backbone in ("decoder", "items") and bool({"user_interests", "sid_to_interests"} & set(sft.interest_tasks))
    user = sft.user_interest_codes if "user_interests" in sft.interest_tasks and not inline else 0
    return {"n_codes": n_codes, "user_codes": user, "inline": inline, "item_codes": item_codes,
            "items_with_codes": sum(bool(c) for c in item_codes), "interests": len(phrases)}


def with_interests(vocab: SIDVocabulary, codes: dict) -> InterestVocabulary:
    return InterestVocabulary(catalog=vocab.catalog, pad=vocab.pad, eos=vocab.eos, offset=vocab.offset,
                              prefix=vocab.prefix, suffix=vocab.suffix, item_ids=vocab.item_ids,
                              item_codes=tuple(tuple(c) for c in codes["item_codes"]), n_codes=codes["n_codes"],
                              user_codes=codes["user_codes"], inline_codes=codes.get("inline", False))


def save_codes(run: Path, codes: dict) -> None:
    write_json(Path(run) / CODES_FILE, codes)


def load_codes(run: Path) -> dict | None:
    path = Path(run) / CODES_FILE
    return read_json(path) if path.exists() else None


def interest_examples(vocab: InterestVocabulary, tasks: list[str]) -> list[tuple[list[int], list[int]]]:
    """(prompt, target) pairs of the item tasks; with codes in the stream, sid_to_interests is trained there."""
    examples = []
    for item, codes in enumerate(vocab.item_codes):
        if not codes:
            continue
        if "sid_to_interests" in tasks and not vocab.inline_codes:
            examples.append((vocab.item_tokens(item), vocab.code_tokens(codes)))
        if "interests_to_sid" in tasks:
            examples.append((vocab.code_tokens(codes), vocab.item_tokens(item)))
    return examples


def interest_signals(path: Path, dataset: PreparedDataset, config: ExperimentConfig,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For the RL reward: each item's interest vector (confidence-weighted mean of its kept interests,
    unit length; zeros without any) and its interest quality q (from the label folder's items.parquet,
    else 1 for items with kept interests)."""
    table = kept_interests(path)
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    table = table.filter(pl.col("item").is_in(set(index)))
    phrases = table["interest"].to_list()
    if not phrases:
        raise ValueError(f"{path}: no kept interest for any item of {dataset.folder}")
    vectors, _ = embed_texts(phrases, config.tokenizer.embedding, label="embedding interests", progress=progress)
    item_vectors = np.zeros((len(index), vectors.shape[1]), dtype=np.float32)
    rows = np.asarray([index[i] for i in table["item"].to_list()], dtype=np.int64)
    np.add.at(item_vectors, rows, vectors * table["confidence"].to_numpy()[:, None])
    item_vectors /= np.maximum(np.linalg.norm(item_vectors, axis=1, keepdims=True), 1e-12)
    items_file = Path(path) / "items.parquet"
    if Path(path).is_dir() and items_file.exists():
        q_table = pl.read_parquet(items_file)
        quality = np.zeros(len(index), dtype=np.float32)
        for item, q in zip(q_table["item"].cast(pl.Utf8).to_list(), q_table["q"].to_list()):
            if item in index:
                quality[index[item]] = q
    else:
        quality = (np.linalg.norm(item_vectors, axis=1) > 0).astype(np.float32)
    return item_vectors, quality
