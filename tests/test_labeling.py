"""RLDI pieces against hand-computed values: behaviour labels, label precedence, human labels, q_i."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from deepinterest.labeling.classifier import fit_and_score
from deepinterest.labeling.labels import behaviour_labels, combine, human_labels, random_items
from deepinterest.labeling.stage import item_quality


def unit(*rows):
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_behaviour_label_is_one_when_co_bought_items_share_the_interest():
    # Items 0-3; item 0's neighbour is item 1. Interests: item 0 "a" and "b"; item 1 "a'" (close to a);
    # items 2 and 3 (the only possible random picks) carry "c" (unlike a and b).
    vectors = unit([1, 0, 0], [0, 1, 0], [0.95, 0.05, 0], [0, 0, 1], [0, 0, 1])
    owners = np.array([0, 0, 1, 2, 3])
    neighbours = [np.array([1]), np.array([0]), np.array([3]), np.array([2])]
    labels, near = behaviour_labels(vectors, owners, neighbours, margin=0.1, seed=0)
    assert labels[0] == 1.0  # "a": neighbour's a' (cos .998) beats random c (0)
    assert labels[1] == 0.0  # "b": cos(b, a') = .05 against random c's 0: within the margin of .1
    assert near[0] == pytest.approx(float(vectors[0] @ vectors[2]), abs=1e-6)


def test_random_items_match_the_neighbours_with_interests_and_avoid_them():
    neighbours = [np.array([1, 2]), np.array([0]), np.array([0]), np.array([], dtype=np.int64), np.array([0, 5]),
                  np.array([4])]
    has_interests = np.array([True, True, False, True, True, True])
    for item, picks in enumerate(random_items(neighbours, has_interests, seed=3)):
        assert len(picks) == has_interests[neighbours[item]].sum()  # item 0: only neighbour 1 has interests
        assert item not in picks and not set(picks) & set(neighbours[item].tolist())
        assert has_interests[picks].all()


def test_human_labels_override_the_judge_and_behaviour():
    labels, origin = combine({"behaviour": np.array([1, 0, np.nan, 1], dtype=np.float32),
                              "human": np.array([0, np.nan, np.nan, np.nan], dtype=np.float32),
                              "judge": np.array([np.nan, 1, 1, np.nan], dtype=np.float32)})
    assert labels.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert origin.tolist() == ["human", "judge", "judge", "behaviour"]


def test_human_label_file_matches_normalised_phrases(tmp_path):
    pairs = pl.DataFrame({"item": ["7", "7", "8"], "interest": ["home office setup", "bird watching", "gel pens"]})
    path = tmp_path / "labels.csv"
    path.write_text("item,interest,label\n7,Home Office  Setup!,1\n8,gel pens,0\n")
    assert human_labels(path, pairs)[[0, 2]].tolist() == [1.0, 0.0] and np.isnan(human_labels(path, pairs)[1])
    path.write_text("item,interest,label\n7,home office setup,yes\n")
    with pytest.raises(ValueError):
        human_labels(path, pairs)


def test_item_quality_is_the_confidence_weighted_share_kept():
    table = pl.DataFrame({"item": ["a", "a", "b"], "confidence": [0.9, 0.3, 0.5], "keep": [True, False, False]})
    q = item_quality(table, ["a", "b", "c"])
    assert q["q"].to_list() == pytest.approx([0.9 / 1.2, 0.0, 0.0])
    assert q["interests"].to_list() == [2, 1, 0] and q["kept"].to_list() == [1, 0, 0]


def test_classifier_learns_a_real_signal_and_reports_held_out_figures():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3)).astype(np.float32)
    labels = (features[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(np.float32)
    labels[:50] = np.nan  # unlabelled rows are scored, never trained on
    probability, report = fit_and_score(features, labels, "logistic", holdout=0.25, threshold=0.5, seed=0)
    assert report["auc"] > 0.9 and report["labels"] == 350 and report["heldout"] == 88
    # scored rows, labelled or not, follow the signal: the positives' probabilities sit well above the negatives'
    assert probability.shape == (400,)
    truth = features[:, 0] > 0
    assert probability[truth].mean() > probability[~truth].mean() + 0.4
    assert probability[:50][truth[:50]].mean() > probability[:50][~truth[:50]].mean() + 0.4  # the unlabelled too
    with pytest.raises(ValueError, match="of each kind"):
        fit_and_score(features, np.ones(400, dtype=np.float32), "logistic", 0.25, 0.5, 0)


def test_conflicting_human_labels_are_an_error(tmp_path):
    pairs = pl.DataFrame({"item": ["7"], "interest": ["gel pens"]})
    path = tmp_path / "labels.csv"
    path.write_text("item,interest,label\n7,gel pens,1\n7,Gel pens,0\n")
    with pytest.raises(ValueError, match="both labels"):
        human_labels(path, pairs)
