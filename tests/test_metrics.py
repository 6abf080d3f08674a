import math

import numpy as np
import pytest
from scipy import sparse

from deepinterest.evaluation.metrics import (
    catalog_coverage,
    hit_rate_and_ndcg,
    intra_list_diversity,
    popularity_percentile,
    target_positions,
)


def test_hit_rate_and_ndcg_match_hand_computed_values():
    ranked = np.array([[3, 1, 2, 0], [0, 1, 2, 3], [2, 3, 1, 0]])
    targets = np.array([1, 3, 5])  # positions 1, 3, absent
    assert target_positions(ranked, targets).tolist() == [1, 3, -1]
    m = hit_rate_and_ndcg(ranked, targets, [1, 2, 4])
    assert m["hr@1"] == 0.0
    assert m["hr@2"] == pytest.approx(1 / 3)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / 3)
    assert m["hr@4"] == pytest.approx(2 / 3)
    assert m["ndcg@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / 3)


def test_first_position_gains_one():
    m = hit_rate_and_ndcg(np.array([[7, 1]]), np.array([7]), [1])
    assert m == {"hr@1": 1.0, "ndcg@1": 1.0}


def test_k_larger_than_list_is_refused():
    with pytest.raises(ValueError, match="fewer than K"):
        hit_rate_and_ndcg(np.zeros((2, 5), dtype=int), np.zeros(2), [10])


def test_coverage_and_popularity_percentile():
    ranked = np.array([[0, 1, 9], [0, 2, 9]])
    assert catalog_coverage(ranked, n_items=10, k=2) == pytest.approx(3 / 10)
    counts = np.array([5, 1, 1, 3])  # percentiles: 3/3, 0, 0, 2/3
    assert popularity_percentile(np.array([[0, 3], [1, 2]]), counts, k=2) == pytest.approx((1 + 2 / 3) / 4)


def test_intra_list_diversity_hand_computed():
    # Items 0 and 1 identical, item 2 orthogonal, item 3 without text.
    vectors = sparse.csr_matrix(np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 0]]))
    # List A = {0, 1, 2}: distances 0, 1, 1 -> 2/3. List B = {0, 3}: one item with text -> left out.
    ild = intra_list_diversity(np.array([[0, 1, 2], [0, 3, 3]])[:1], vectors, k=3)
    assert ild == pytest.approx(2 / 3)
    assert intra_list_diversity(np.array([[0, 3]]), vectors, k=2) is None


def test_deterministic_topk_equals_a_stable_full_sort():
    import torch

    from deepinterest.evaluation.harness import deterministic_topk

    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (64, 40), generator=generator).float()  # many ties
    scores[:8] = torch.rand(8, 40, generator=generator)  # and rows without ties
    expected = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :10]
    assert torch.equal(deterministic_topk(scores, 10), expected)


def _write_rankings(path, rows):
    import json

    path.write_text("".join(json.dumps({"user": u, "target": t, "ranked": r}) + "\n" for u, t, r in rows))
    return path


def test_paired_bootstrap_sees_a_consistent_gain_and_no_gain_between_equals(tmp_path):
    from deepinterest.evaluation.significance import paired_bootstrap

    # 200 users; A finds the target at position 4 for the first 40, B at position 0 for the same 40.
    fill = [f"x{i}" for i in range(5)]
    rows_a = [(str(u), "t", (fill[:4] + ["t"]) if u < 40 else fill) for u in range(200)]
    rows_b = [(str(u), "t", ["t"] + fill[:4] if u < 40 else fill) for u in range(200)]
    a, b = _write_rankings(tmp_path / "a.jsonl", rows_a), _write_rankings(tmp_path / "b.jsonl", rows_b)
    result = paired_bootstrap(a, b, "ndcg@5", resamples=500)
    expected = 40 / 200 * (1 - 1 / math.log2(6))
    assert result["difference"] == pytest.approx(expected)
    assert result["ci95"][0] > 0 and result["p_b_not_better"] == 0.0 and result["users_that_differ"] == 40
    same = paired_bootstrap(a, a, "hr@5", resamples=200)
    assert same["difference"] == 0.0 and same["ci95"] == [0.0, 0.0] and same["p_b_not_better"] == 1.0


def test_paired_bootstrap_refuses_rankings_of_other_users_or_targets(tmp_path):
    from deepinterest.data.errors import DataFormatError
    from deepinterest.evaluation.significance import paired_bootstrap

    a = _write_rankings(tmp_path / "a.jsonl", [("1", "t", ["t"]), ("2", "s", ["t"])])
    other_users = _write_rankings(tmp_path / "b.jsonl", [("1", "t", ["t"]), ("3", "s", ["t"])])
    other_targets = _write_rankings(tmp_path / "c.jsonl", [("1", "t", ["t"]), ("2", "t", ["t"])])
    for b in (other_users, other_targets):
        with pytest.raises(DataFormatError):
            paired_bootstrap(a, b, "hr@1", resamples=100)
    with pytest.raises(ValueError, match="hr@10"):
        paired_bootstrap(a, a, "recall@3", resamples=100)


def test_rankings_that_cannot_be_measured_are_refused_with_file_and_line(tmp_path):
    from deepinterest.data.errors import DataFormatError
    from deepinterest.evaluation.rankings import metrics_from_rankings
    from deepinterest.evaluation.significance import paired_bootstrap

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    twice = _write_rankings(tmp_path / "twice.jsonl", [("1", "t", ["t", "a"]), ("2", "s", ["a", "b"]), ("1", "t", ["a", "t"])])
    repeated = _write_rankings(tmp_path / "repeated.jsonl", [("1", "t", ["a", "t"]), ("2", "s", ["a", "a"])])
    for path, message in ((empty, "no rankings"), (twice, r"twice.jsonl:3.*ranked a second time"),
                          (repeated, r"repeated.jsonl:2.*appears twice")):
        with pytest.raises(DataFormatError, match=message):
            metrics_from_rankings(path)
    with pytest.raises(DataFormatError, match="no rankings"):
        paired_bootstrap(empty, empty, "ndcg@1")
    short = _write_rankings(tmp_path / "short.jsonl", [("1", "t", ["t", "a"])])
    with pytest.raises(ValueError, match="beyond the ranked lists"):
        paired_bootstrap(short, short, "ndcg@10")


def test_a_kept_gzipped_rankings_file_reads_like_the_plain_one(tmp_path):
    import gzip

    from deepinterest.evaluation.rankings import rankings_file, read_positions

    (tmp_path / "run").mkdir()
    (tmp_path / "kept").mkdir()
    plain = _write_rankings(tmp_path / "run" / "rankings.jsonl", [("1", "t", ["x", "t"]), ("2", "s", ["t"])])
    kept = tmp_path / "kept"
    (kept / "rankings.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    assert rankings_file(tmp_path / "run") == plain and rankings_file(kept) == kept / "rankings.jsonl.gz"
    assert read_positions(kept / "rankings.jsonl.gz") == read_positions(plain) == ({"1": ("t", 1), "2": ("s", -1)}, 2)
