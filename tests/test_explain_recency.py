"""The explanation's user interests: each history item's interests weighted by confidence x position / length,
so the latest purchase counts most. Real Office items and their behavioural interests, values by hand."""

from __future__ import annotations

import polars as pl
import pytest

from deepinterest.config import EmbeddingConfig, ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.mining.stage import mine
from deepinterest.serving.explain import Explainer


def test_recent_items_weigh_more_by_position(office, tmp_path):
    mine(office, tmp_path / "mine", ExperimentConfig(mine={"backends": [{"name": "b", "kind": "behaviour", "seed": 0}]}),
         progress=False)
    interests = tmp_path / "mine" / "item_interests.parquet"
    dataset = PreparedDataset(office)
    explainer = Explainer(dataset, interests, EmbeddingConfig())
    table = pl.read_parquet(interests)
    of = {item: dict(zip(group["interest"], group["confidence"])) for (item,), group in table.group_by("item")}
    index = {raw: i for i, raw in enumerate(dataset.item_ids)}
    # Two items whose phrases do not overlap, so each phrase's weight comes from one position.
    first, last = next((a, b) for a in of for b in of if a != b and not set(of[a]) & set(of[b]))
    history = [index[first], index[last]]
    weights = dict(explainer.user_interests(history, top=50))
    for phrase, confidence in of[first].items():
        assert weights[phrase] == pytest.approx(confidence * 1 / 2)
    for phrase, confidence in of[last].items():
        assert weights[phrase] == pytest.approx(confidence * 2 / 2)
    reversed_weights = dict(explainer.user_interests(history[::-1], top=50))
    assert all(reversed_weights[p] == pytest.approx(c) for p, c in of[first].items())  # now the latest: full weight
