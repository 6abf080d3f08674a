"""RLDI on real Office interests: the feature that defines behaviour labels never trains their classifier.

Behaviour labels say "the interest's best match among co-bought items' interests beats random items' by a
margin", so `neighbour_sim` (that best match) echoes the label: with it among the features the held-out AUC
measures the label's definition (0.80 on this slice; not 1, since the random items' match is in no feature)
instead of what the other features know (0.54). The label stage leaves it out; this test shows the gap.
"""

from __future__ import annotations

import polars as pl
import pytest

from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.labeling.stage import label

SLICE = 1500  # items with mined interests: the first of Office's 2,420


@pytest.fixture(scope="module")
def category_interests(office, tmp_path_factory):
    """What tests/category_miner.py's endpoint answers, for a slice of Office, in the mining stage's table format."""
    items = PreparedDataset(office).items.head(SLICE)
    rows = []
    for item, title, categories in items.select("item", "title", "categories").iter_rows():
        levels = [c.strip().lower() for c in (categories or "").split(",") if c.strip()]
        words = (title or "").split()
        phrases = [f"{level} shopping" for level in levels[-2:]] + ([f"{words[0].lower()} fan"] if words else [])
        rows += [{"item": item, "interest": p, "confidence": 0.9 - 0.1 * i, "support": 1} for i, p in enumerate(phrases)]
    path = tmp_path_factory.mktemp("mined") / "item_interests.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def test_neighbour_sim_would_echo_behaviour_labels_so_it_is_left_out(office, category_interests, tmp_path):
    fair = label(office, category_interests, tmp_path / "fair", load_config(None, []), progress=False)
    assert fair["labels_by_source"]["behaviour"] > 1000 and "neighbour_sim" not in fair["features"]
    every = ",".join(("text_sim", "neighbour_sim", "generic_sim", "support", "confidence", "specificity", "words", "chars"))
    leaky = label(office, category_interests, tmp_path / "leaky", load_config(None, [f"label.features=[{every}]"]),
                  progress=False)
    assert leaky["auc"] > 0.75  # the label's own definition among the inputs
    assert 0.5 < fair["auc"] < 0.65 and fair["auc"] < leaky["auc"] - 0.15, (fair["auc"], leaky["auc"])
