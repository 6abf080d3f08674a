"""A trained run, loaded once and read-only, for serving: ranks batches of histories and looks items up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from deepinterest.config import ExperimentConfig, ServeConfig
from deepinterest.config.runtime import resolve_device, use_threads
from deepinterest.data.dataset import PreparedDataset, trim_text
from deepinterest.data.io import read_json
from deepinterest.evaluation.generative import trained_catalog
from deepinterest.model.constrained import beam_search_for
from deepinterest.serving.explain import Explainer
from deepinterest.training.sft import build_vocabulary, load_trained_model

MODEL_STAGES = ("rl", "sft")  # in a `deepinterest run` folder, the GRPO model when there is one


@dataclass
class RunFolders:
    model: Path  # the folder with run.json and model.safetensors
    data: Path
    sid: Path
    label: Path | None  # RLDI label folder (interests.parquet, items.parquet) or an interests Parquet


def locate(run: Path, interests: Path | None = None) -> RunFolders:
    """The model, data, catalog and interests of a `deepinterest run` folder or of an sft/rl run folder."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    pipeline = (run / "pipeline.json").exists()
    model = next((run / s for s in MODEL_STAGES if (run / s / "model.safetensors").exists()), run) if pipeline else run
    if not (model / "run.json").exists() or not (model / "model.safetensors").exists():
        raise FileNotFoundError(f"{run}: not a trained generative run (no run.json and model.safetensors; "
                                "serve a `deepinterest run`, `sft` or `rl` folder)")
    info = read_json(model / "run.json")
    if "sid" not in info:
        raise ValueError(f"{model}: a {info.get('model', 'non-generative')} run; serving needs an sft or rl run")
    data, sid = Path(info["data"]), Path(info["sid"])
    if pipeline:  # a moved pipeline folder still finds its own stages
        data = data if data.exists() else run / "data"
        sid = sid if sid.exists() else run / "tokenize"
    if interests is None:
        config = ExperimentConfig.model_validate(info["config"])
        own = run / "label" if pipeline else None
        interests = next((p for p in (own, config.rl.interests, config.sft.interests)
                          if p is not None and Path(p).exists()), None)
    return RunFolders(model, data, sid, Path(interests) if interests is not None else None)


class ServedRun:
    """Everything a request needs, built at start: model, search, ids, titles, SIDs, interests."""

    def __init__(self, run: Path, settings: ServeConfig):
        self.folders = folders = locate(run, settings.interests)
        self.info = read_json(folders.model / "run.json")
        self.config = ExperimentConfig.model_validate(self.info["config"])
        self.name = self.config.name
        use_threads(settings.threads, "serve.threads")
        self.dataset = dataset = PreparedDataset(folders.data)
        self.catalog = trained_catalog(folders.model, self.info, dataset, folders.sid)
        self.vocab, _ = build_vocabulary(self.catalog, self.config.sft, checkpoint=folders.model)
        sft = self.config.sft.model_copy(update={"device": settings.device})
        self.model = load_trained_model(folders.model, self.vocab, sft).eval()
        self.device = resolve_device(settings.device)
        self.search = beam_search_for(self.model, self.vocab, self.device)
        self.beams, self.max_items = self.config.sft.beams, self.config.sft.max_items

        self.item_ids, self.user_ids = dataset.item_ids, dataset.user_ids
        self.item_index = {raw: i for i, raw in enumerate(self.item_ids)}
        self.user_index = {raw: i for i, raw in enumerate(self.user_ids)}
        items = dataset.items
        self.titles = [t or f"item {raw}" for t, raw in zip(items["title"].to_list(), self.item_ids)]
        self.fields = {c: items[c].to_list() for c in ("brand", "categories", "description") if c in items.columns}
        self.sequences = dataset.sequences["items"].to_list()
        self.briefs = [{"item": i, "raw_id": raw, "title": title, "sid": self.catalog.sid_string(i)}
                       for i, (raw, title) in enumerate(zip(self.item_ids, self.titles))]
        self.prefix_counts = Counter(tuple(code[:d]) for code in self.catalog.codes.tolist()
                                     for d in range(1, self.catalog.levels + 1))
        self.metrics = read_json(folders.model / "metrics.json") if (folders.model / "metrics.json").exists() else {}
        self.explainer = self.interests = self.quality = None
        if folders.label is not None:
            self.explainer = Explainer(dataset, folders.label, self.config.tokenizer.embedding)
            self.interests, self.quality = _interest_tables(folders.label)

    # --- ranking --------------------------------------------------------------------------

    @torch.no_grad()
    def rank(self, histories: list[list[int]]) -> list[list[tuple[int, float]]]:
        """Each history's top `beams` items with their log-probabilities, best first (one search for all)."""
        prompts = [self.search.prompt(h, self.max_items) for h in histories]
        items, scores = self.search.rank(self.model, prompts, self.beams)
        return [[(int(i), float(s)) for i, s in zip(row_items, row_scores) if i >= 0]
                for row_items, row_scores in zip(items.tolist(), scores.tolist())]

    def explain(self, history: list[int], items: list[int]) -> list[dict]:
        if self.explainer is None:
            return [{"matches": [], "weak": True, "text": "this run has no kept interests (serve --interests LABEL_FOLDER)"}
                    for _ in items]
        return self.explainer.explain(history, items)

    # --- look-ups -------------------------------------------------------------------------

    def trie_path(self, item: int) -> list[dict]:
        """The item's SID level by level: the token and how many catalog items share the prefix so far."""
        code = self.catalog.codes[item].tolist()
        tokens = self.catalog.tokens(item)
        path = [{"level": d, "token": self.catalog.token_name(tokens[d]), "items_with_prefix": self.prefix_counts[tuple(code[:d + 1])]}
                for d in range(self.catalog.levels)]
        if len(tokens) > self.catalog.levels:
            path.append({"level": self.catalog.levels, "token": self.catalog.token_name(tokens[-1]), "items_with_prefix": 1})
        return path

    def siblings(self, item: int, limit: int = 10) -> list[int]:
        """Other items under the same SID prefix one level up (the search's nearest alternatives)."""
        codes = self.catalog.codes
        prefix = codes[item, :-1]
        same = (codes[:, :-1] == prefix).all(axis=1)
        return [int(i) for i in same.nonzero()[0] if i != item][:limit]

    def item(self, item: int) -> dict:
        raw = self.item_ids[item]
        interests = self.interests.get(raw, []) if self.interests is not None else []
        return {**self.brief(item),
                **{f: (trim_text(v[item], 600) if f == "description" and v[item] else v[item]) for f, v in self.fields.items()},
                "trie_path": self.trie_path(item), "siblings": self.siblings(item),
                "interests": interests, "q": self.quality.get(raw) if self.quality is not None else None}

    def brief(self, item: int) -> dict:
        return self.briefs[item]

    def user(self, user: int) -> dict:
        return {"user": user, "raw_id": self.user_ids[user], "history": self.sequences[user]}


def _interest_tables(label: Path) -> tuple[dict[str, list[dict]], dict[str, float] | None]:
    """Every mined interest of each item (kept or not, with confidence and RLDI's probability), and q_i."""
    file = label / "interests.parquet" if label.is_dir() else label
    table = pl.read_parquet(file)
    columns = [c for c in ("interest", "kind", "confidence", "probability", "keep") if c in table.columns]
    table = table.with_columns(pl.col("item").cast(pl.Utf8))
    if "confidence" in table.columns:
        table = table.sort("confidence", descending=True, nulls_last=True, maintain_order=True)
    interests: dict[str, list[dict]] = {}
    for row in table.select("item", *columns).iter_rows(named=True):
        interests.setdefault(row.pop("item"), []).append(row)
    quality = None
    if label.is_dir() and (label / "items.parquet").exists():
        items = pl.read_parquet(label / "items.parquet")
        quality = dict(zip(items["item"].cast(pl.Utf8).to_list(), items["q"].to_list()))
    return interests, quality
