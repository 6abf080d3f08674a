"""The evaluation harness on real Office examples: what it does with an output that is not a catalog item."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepinterest.data.dataset import PreparedDataset
from deepinterest.evaluation.harness import Evaluator
from deepinterest.evaluation.rankings import metrics_from_rankings


class FixedRanker:
    """Ranks the same list for every example; with `invalid_at`, -1 (no catalog item) takes that place."""

    def __init__(self, ranked: np.ndarray, invalid_at: int | None = None):
        self.ranked = ranked.copy()
        if invalid_at is not None:
            self.ranked[invalid_at] = -1

    def rank(self, users, histories, k):
        return np.tile(self.ranked[:k], (len(histories), 1))


@pytest.fixture(scope="module")
def popular(office):
    dataset = PreparedDataset(office)
    return dataset, np.argsort(-dataset.train_popularity, kind="stable")[:20]


def test_an_invalid_output_is_counted_and_scored_as_a_miss(popular, tmp_path):
    dataset, top = popular
    evaluator = Evaluator(dataset)
    clean = evaluator.run(FixedRanker(top), "test", progress=False).metrics
    assert clean["invalid_rate"] == 0.0
    targets = dataset.examples("test").targets
    spot = int(np.argmax([(targets == item).sum() for item in top[:10]]))  # the top-10 item most often a target
    share = float((targets == top[spot]).mean())
    assert share > 0
    broken = evaluator.run(FixedRanker(top, invalid_at=spot), "test", progress=False)
    assert broken.metrics["invalid_rate"] == pytest.approx(1 / 20)  # one of the 20 outputs per list
    # The users whose target sat there become misses, nobody else changes.
    assert broken.metrics["hr@10"] == pytest.approx(clean["hr@10"] - share)
    assert broken.metrics["hr@20"] == pytest.approx(clean["hr@20"] - share)
    assert broken.metrics["ndcg@10"] == pytest.approx(clean["ndcg@10"] - share / np.log2(spot + 2))
    # -1 is no item: it is not the last catalog item in coverage, nor in the written rankings.
    assert broken.metrics["coverage@10"] == pytest.approx(clean["coverage@10"] - 1 / dataset.n_items)
    evaluator.write(tmp_path, {"test": broken.metrics}, broken)
    rows = [json.loads(line) for line in (tmp_path / "rankings.jsonl").read_text().splitlines()]
    assert all(r["ranked"][spot] is None and dataset.item_ids[-1] not in r["ranked"] for r in rows)
    assert metrics_from_rankings(tmp_path / "rankings.jsonl")["hr@10"] == pytest.approx(broken.metrics["hr@10"])


@pytest.mark.parametrize("bad", [-2, "n_items"])
def test_an_index_outside_the_catalog_is_refused(popular, bad):
    dataset, top = popular
    ranker = FixedRanker(top)
    ranker.ranked[3] = dataset.n_items if bad == "n_items" else bad
    with pytest.raises(ValueError, match="outside the catalog"):
        Evaluator(dataset).run(ranker, "valid", progress=False)


class EchoLastRanker:
    """Ranks each example's last history item first: lets a test see which examples it was given."""

    def rank(self, users, histories, k):
        return np.array([[h[-1]] + [0] * (k - 1) for h in histories])


def test_a_limited_run_ranks_a_fixed_random_sample_not_the_first_users(popular):
    dataset, _ = popular
    evaluator, examples = Evaluator(dataset), dataset.examples("valid")
    sample = examples.sample(500)
    assert len(sample) == 500 and examples.sample(500).users.tolist() == sample.users.tolist()  # fixed
    assert sample.users.max() > examples.users[499]  # reaches past the first 500
    assert (np.diff(sample.users) > 0).all()  # original order kept, no user twice
    # Users, histories and targets stay aligned: the same rows as the full split's at those users.
    position = {int(u): i for i, u in enumerate(examples.users)}
    rows = [position[int(u)] for u in sample.users]
    assert sample.targets.tolist() == examples.targets[rows].tolist()
    assert sample.histories == [examples.histories[i] for i in rows]
    limited = evaluator.run(EchoLastRanker(), "valid", progress=False, limit=500)
    assert limited.metrics["examples"] == 500
    assert limited.ranked[:, 0].tolist() == [h[-1] for h in sample.histories]
    assert examples.sample(len(examples) + 1) is examples
