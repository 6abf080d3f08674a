"""The data stage on the real benchmark sets: counts, leave-one-out without leakage, atomic output."""

import json

import polars as pl
import pytest

from deepinterest.config import DataConfig
from deepinterest.data import prepare as prepare_module
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.prepare import prepare
from deepinterest.data.split import count_windows, global_chronological, leave_one_out

PUBLISHED = {  # users, items, interactions (../shared/data/README.md)
    "office": (4905, 2420, 53258),
    "beauty": (22363, 12101, 198502),
    "sports": (35598, 18357, 296337),
    "instruments": (17112, 6250, 136226),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_registered_summaries_match_the_published_counts(name, tmp_path):
    summary = prepare(DataConfig(source=name), tmp_path / name)
    assert (summary["users"], summary["items"], summary["interactions"]) == PUBLISHED[name]
    users, _, interactions = PUBLISHED[name]
    assert summary["train_examples"] == interactions - 3 * users  # windows over items[:-2]
    assert summary["valid_users"] == summary["test_users"] == users
    assert summary["avg_seq_len"] == pytest.approx(interactions / users, abs=1e-4)
    assert json.loads((tmp_path / name / "summary.json").read_text())["users"] == users


def test_leave_one_out_never_trains_on_valid_or_test(office, shared_data):
    data = PreparedDataset(office)
    source = json.loads((shared_data / "amazon2014-office" / "Office.inter.json").read_text())
    item_of = data.item_ids
    valid, test = data.examples("valid"), data.examples("test")
    max_history = data.summary["settings"]["max_history"]
    for row, (user, full, train) in enumerate(data.sequences.select("user", "items", "train").iter_rows()):
        original = [str(i) for i in source[user]]
        assert [item_of[i] for i in full] == original  # order kept exactly
        assert train == full[:-2]
        assert valid.users[row] == test.users[row] == row
        assert valid.targets[row] == full[-2] and test.targets[row] == full[-1]
        assert valid.histories[row] == full[:-2][-max_history:]
        assert test.histories[row] == full[:-1][-max_history:]
    # Popularity for ranking is counted on the training part only.
    assert int(data.train_popularity.sum()) == 53258 - 2 * 4905


def test_split_functions_on_hand_made_sequences():
    split = leave_one_out([[1, 2, 3, 4, 5], [7, 8]], max_history=2)
    assert split.train == [[1, 2, 3], [7, 8]]
    assert split.examples["valid"] == ([0], [[2, 3]], [4])
    assert split.examples["test"] == ([0], [[3, 4]], [5])
    assert count_windows(split.train) == 3


def test_global_chronological_split_keeps_time_order():
    sequences = [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10]]
    times = [[1, 2, 9, 10], [3, 4, 5, 6, 7, 8]]
    split = global_chronological(sequences, times, (0.6, 0.2, 0.2), max_history=10)
    # 10 events: times 1..6 train, 7..8 valid, 9..10 test.
    assert split.train == [[1, 2], [5, 6, 7, 8]]
    assert split.examples["valid"] == ([1, 1], [[5, 6, 7, 8], [5, 6, 7, 8, 9]], [9, 10])
    assert split.examples["test"] == ([0, 0], [[1, 2], [1, 2, 3]], [3, 4])


def test_global_split_from_a_csv_with_timestamps(tmp_path):
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u2", "a", 3), ("u2", "c", 4), ("u1", "c", 5),
            ("u2", "b", 6), ("u1", "d", 7), ("u2", "d", 8), ("u1", "e", 9), ("u2", "e", 10)]
    pl.DataFrame(rows, schema=["user", "item", "timestamp"], orient="row").write_csv(tmp_path / "interactions.csv")
    cfg = DataConfig(format="csv", path=tmp_path, kcore=0, split="global")
    summary = prepare(cfg, tmp_path / "out")
    data = PreparedDataset(tmp_path / "out")
    inter = pl.read_parquet(tmp_path / "out" / "interactions.parquet")
    last_train_time = 8  # 8 of 10 events are training
    train_items = {(u, i) for u, seq in enumerate(data.train_sequences) for i in seq}
    for split in ("valid", "test"):
        ex = data.examples(split)
        for user, target in zip(ex.users, ex.targets):
            assert (user, target) not in train_items
    assert inter.filter(pl.col("timestamp") <= last_train_time).height == sum(len(s) for s in data.train_sequences)
    assert summary["valid_examples"] == 1 and summary["test_examples"] == 1


def test_global_split_needs_timestamps(office, tmp_path):
    with pytest.raises(ValueError, match="needs a timestamp"):
        prepare(DataConfig(source="office", split="global"), tmp_path / "out")


def test_kcore_and_consecutive_repeats(tmp_path):
    # u3 has 2 events -> dropped at k=3; then item z (only u3's) goes too. u1 repeats b twice in a row, and
    # comes back to a (so that a training example is left after dedup: an import with none is refused).
    rows = [("u1", "a"), ("u1", "b"), ("u1", "b"), ("u1", "c"), ("u1", "a"), ("u2", "a"), ("u2", "b"), ("u2", "c"),
            ("u3", "z"), ("u3", "a"), ("u4", "a"), ("u4", "c"), ("u4", "b")]
    pl.DataFrame(rows, schema=["user", "item"], orient="row").write_csv(tmp_path / "interactions.csv")
    kept = prepare(DataConfig(format="csv", path=tmp_path, kcore=3), tmp_path / "a")
    assert (kept["users"], kept["items"], kept["interactions"]) == (3, 3, 11)
    dedup = prepare(DataConfig(format="csv", path=tmp_path, kcore=3, dedup_consecutive=True), tmp_path / "b")
    assert dedup["interactions"] == 10
    seq = PreparedDataset(tmp_path / "b").sequences.filter(pl.col("user") == "u1")["items"][0].to_list()
    assert len(seq) == 4


def test_a_crash_leaves_no_artifact_and_keeps_the_old_one(office, tmp_path, monkeypatch):
    out = tmp_path / "office"
    prepare(DataConfig(source="office"), out)
    before = (out / "summary.json").read_text()

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(prepare_module, "_examples_frame", crash)  # fail after the first files are written
    with pytest.raises(RuntimeError):
        prepare(DataConfig(source="office", max_history=5), out)
    assert (out / "summary.json").read_text() == before  # the old artifact is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["office"]  # no partial folder left behind
    with pytest.raises(RuntimeError):
        prepare(DataConfig(source="office"), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_a_popular_items_slice_keeps_the_most_bought_items_then_the_k_core(tmp_path):
    """configs/demo.yaml's slice: the 100 most interacted Office items, then the 5-core filter."""
    full = prepare(DataConfig(source="office"), tmp_path / "full")
    sliced = prepare(DataConfig(source="office", top_items=100), tmp_path / "slice")
    assert sliced["items"] == 100 and 500 < sliced["users"] < full["users"]
    events = pl.read_parquet(tmp_path / "full" / "interactions.parquet")
    counts = events.group_by("item").len().sort("len", descending=True)
    kept = set(pl.read_parquet(tmp_path / "slice" / "items.parquet")["item"].to_list())
    edge = counts["len"][99]  # the 100th largest count: kept items reach it, dropped ones do not exceed it
    count = dict(zip(counts["item"].to_list(), counts["len"].to_list()))
    assert all(count[i] >= edge for i in kept) and all(n <= edge for i, n in count.items() if i not in kept)
    per_user = pl.read_parquet(tmp_path / "slice" / "interactions.parquet").group_by("user").len()["len"]
    assert per_user.min() >= 5
