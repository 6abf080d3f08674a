"""The SID catalog: unique IDs with suffixes only where needed, trie tables, safe save/load."""

import numpy as np
import pytest
import torch

from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.tokenizer.quantize import sinkhorn_assign, usage_and_perplexity

CODES = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 3], [1, 0, 0], [0, 1, 2]])
ITEMS = ["a", "b", "c", "d", "e"]


def test_suffix_only_for_colliding_items():
    catalog = SIDCatalog.build(CODES, 4, ITEMS)
    assert catalog.suffix.tolist() == [0, 1, -1, -1, 2]
    assert catalog.collision_stats() == {"collision_rate": 0.6, "max_bucket": 3, "unique_codes": 3}
    assert catalog.tokens(0) == [0, 5, 10, 12] and catalog.tokens(2) == [0, 5, 11]
    assert catalog.sid_string(4) == "<a_0><b_1><c_2><d_2>"
    assert catalog.vocab_size == 3 * 4 + 3 and catalog.max_length == 4


def test_every_item_decodes_to_itself_and_nothing_else_decodes():
    catalog = SIDCatalog.build(CODES, 4, ITEMS)
    assert [catalog.decode(catalog.tokens(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    assert catalog.decode([0, 5, 10]) is None  # a shared code needs its suffix
    assert catalog.decode([0, 5, 10, 15]) is None  # suffix 3 does not exist
    assert catalog.decode([1, 4, 9]) is None  # <a_1><b_0><c_1> is no item


def test_trie_tables_list_exactly_the_allowed_next_tokens():
    catalog = SIDCatalog.build(CODES, 4, ITEMS)
    tables = catalog.tensors()
    root_allowed = (tables["next"][0][0] >= 0).nonzero().ravel().tolist()
    assert root_allowed == [0, 1]
    node = int(tables["next"][0][0, 0])
    assert (tables["next"][1][node] >= 0).nonzero().ravel().tolist() == [1]


def test_save_and_load_round_trip_and_refuse_other_data(tmp_path):
    catalog = SIDCatalog.build(CODES, 4, ITEMS)
    catalog.save(tmp_path)
    loaded = SIDCatalog.load(tmp_path, ITEMS)
    assert np.array_equal(loaded.codes, catalog.codes) and np.array_equal(loaded.suffix, catalog.suffix)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.next, catalog.next))
    assert [loaded.decode(loaded.tokens(i)) for i in range(5)] == list(range(5))
    with pytest.raises(ValueError, match="other data"):
        SIDCatalog.load(tmp_path, ["a", "b", "c", "d", "x"])
    with pytest.raises(ValueError, match="other data"):
        SIDCatalog.load(tmp_path, ITEMS[:4])
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pt"))


def test_usage_and_perplexity_hand_computed():
    codes = np.array([[0, 0], [1, 0], [2, 0], [3, 1]])
    usage, perplexity = usage_and_perplexity(codes, 8)
    assert usage == [0.5, 0.25]
    assert perplexity[0] == pytest.approx(4.0)
    assert perplexity[1] == pytest.approx(np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))))


def test_sinkhorn_spreads_items_that_argmin_would_pile_up():
    generator = torch.Generator().manual_seed(0)
    distances = torch.rand(400, 8, generator=generator)
    distances[:, 0] -= 1.0  # code 0 is everyone's nearest
    assert int((distances.argmin(1) == 0).sum()) == 400
    counts = torch.bincount(sinkhorn_assign(distances, 0.01, 100), minlength=8)
    assert int(counts.max()) <= 80 and int(counts.min()) >= 20  # near 50 each


def test_unique_last_level_separates_items_that_share_a_prefix():
    from deepinterest.tokenizer.quantize import assign_last_level

    # Items 0-2 share prefix (5,) and all prefer code 0; item 3 has another prefix and also wants 0.
    distances = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.1, 0.2, 2.0, 3.0], [0.1, 3.0, 0.5, 3.0], [0.0, 1.0, 1.0, 1.0]])
    prefix = np.array([[5], [5], [5], [6]])
    assert assign_last_level(distances, prefix, "nearest", 0.003, 50).tolist() == [0, 0, 0, 0]
    # Least total distance with distinct codes in group 5: 0->0, 1->1, 2->2 (0 + 0.2 + 0.5).
    assert assign_last_level(distances, prefix, "unique", 0.003, 50).tolist() == [0, 1, 2, 0]


def test_a_run_refuses_a_catalog_rebuilt_after_it_was_trained(office, office_sid, tmp_path):
    """`evaluate` (and serve, rl) must not rank with a catalog other than the training one: the items would move."""
    import json

    from deepinterest.config import load_config
    from deepinterest.data.dataset import PreparedDataset
    from deepinterest.evaluation.generative import evaluate_run

    item_ids = PreparedDataset(office).item_ids
    trained = SIDCatalog.load(office_sid, item_ids)
    codes = trained.codes.copy()
    codes[[0, 1]] = codes[[1, 0]]  # a rebuilt catalog: two items swapped their codes
    SIDCatalog.build(codes, trained.codebook_size, item_ids).save(tmp_path / "sid")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"model": "sft", "data": str(office), "sid": str(tmp_path / "sid"),
                                              "catalog_sha256": trained.codes_sha256,
                                              "config": load_config(None, []).model_dump(mode="json")}))
    with pytest.raises(ValueError, match="not the one .* was trained on"):
        evaluate_run(run, progress=False)
    assert SIDCatalog.load(office_sid, item_ids).codes_sha256 == trained.codes_sha256  # stable across loads
