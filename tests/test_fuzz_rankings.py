"""A generated corpus for the rankings readers (issue 21): at least 1,000 rankings files, plain and gzipped, each
measured or refused with a DataFormatError that names the file, never another exception."""

from __future__ import annotations

import gzip
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepinterest.data.errors import DataFormatError
from deepinterest.evaluation.rankings import metrics_from_rankings

CASES = 1000
FUZZ = settings(max_examples=CASES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))

ITEM = st.one_of(st.sampled_from(["i1", "i2", "i3", "1", ""]), st.none(), st.integers(-3, 3), st.floats(), st.booleans(),
                 st.lists(st.just("i1"), max_size=2), st.text(max_size=3))
ROW = st.fixed_dictionaries({}, optional={
    "user": st.sampled_from(["u1", "u2", "u3"]) | ITEM, "target": ITEM,
    "ranked": st.lists(ITEM, max_size=25) | ITEM,
})
LINE = st.one_of(ROW.map(json.dumps), ROW.map(json.dumps), ROW.map(json.dumps), ITEM.map(json.dumps),
                 st.sampled_from(["", "{", "[1, 2]", '"text"', "null", "[" * 5000 + "]" * 5000]))
# Measurable rows (distinct users, lists of 5+ distinct items, misses as null), with a stray line now and then.
GOOD_ROW = st.builds(lambda user, ranked, target: json.dumps({"user": f"u{user}", "target": f"i{target}", "ranked": ranked}),
                     st.integers(0, 50), st.permutations([f"i{i}" for i in range(8)]).map(lambda r: r[:5] + [None]),
                     st.integers(0, 9))
GOOD = st.lists(GOOD_ROW, min_size=1, max_size=6, unique=True).flatmap(
    lambda rows: st.lists(LINE, max_size=1).map(lambda stray: rows + stray))
CONTENT = st.one_of(GOOD.map(lambda lines: "\n".join(lines).encode()), st.lists(LINE, max_size=6).map(lambda lines: "\n".join(lines).encode()), st.binary(max_size=40),
                    st.just(b"\xff\xfe{}\n"))


def test_rankings_files_are_measured_or_refused_with_the_file_named(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rankings")
    seen = {"cases": 0, "measured": 0}

    @FUZZ
    @given(CONTENT, st.booleans(), st.booleans())
    def check(content: bytes, packed: bool, cut: bool) -> None:
        path = folder / ("rankings.jsonl.gz" if packed else "rankings.jsonl")
        data = gzip.compress(content, mtime=0) if packed else content
        path.write_bytes(data[: len(data) // 2] if cut and packed else data)
        seen["cases"] += 1
        try:
            metrics = metrics_from_rankings(path, [1, 5])
        except DataFormatError as error:
            assert str(path) in str(error)
            return
        finally:
            path.unlink()
        assert all(math.isfinite(v) for v in metrics.values())
        seen["measured"] += 1

    check()
    assert seen["cases"] >= CASES and seen["measured"] > 0
