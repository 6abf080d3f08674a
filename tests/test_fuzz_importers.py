"""A generated corpus for every importer (issue 21): at least 1,000 files a format, each either imported or refused
with the project's own DataFormatError (which names the file), never another exception.

Hypothesis runs derandomized (the same corpus on every run) without a deadline, so the suite stays fast and stable.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats import get_format
from deepinterest.data.schema import RawDataset

CASES = 1000
FUZZ = settings(max_examples=CASES, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))

# Values a careless export holds: the right ones, and numbers that are no time, text that is no number, nesting.
ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "u1", "i1", "0", "-1", "1e400", "nan", "inf", "2020-01-01", "1.5", "a\tb", "a,b", '"', "\x00"]),
    st.text(max_size=8),
)
JSON_VALUES = ATOMS | st.lists(ATOMS, max_size=3) | st.dictionaries(st.sampled_from(["a", "title", ""]), ATOMS, max_size=2)
TOKENS = st.sampled_from(["u1", "u2", "i1", "i2", "i3", "1000", "1001", "-5", "nan", "inf", "1e300", "2020-01-01T00:00:00",
                          "", " ", "\t", ",", '"', "'", "\\", "\xff", "é", "{", "}", "[", "]", ":", "user", "item",
                          "timestamp", "user_id:token", "item_id:token", "timestamp:float", "title:token_seq"])


def _json(value) -> str:
    return json.dumps(value, allow_nan=True, default=str)


def separated_lines(separators: str) -> st.SearchStrategy[bytes]:
    """Lines of tokens joined by one of `separators`; sometimes with raw bytes that are not UTF-8."""
    line = st.builds(lambda sep, parts: sep.join(parts), st.sampled_from(list(separators)), st.lists(TOKENS, max_size=6))
    text = st.lists(line, max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
    return st.one_of(text, text, st.binary(max_size=64))


def json_lines(keys: list[str]) -> st.SearchStrategy[bytes]:
    """JSON lines of objects with (mostly) the keys a format needs and any values; some lines are not JSON."""
    record = st.dictionaries(st.sampled_from(keys) | st.text(max_size=3), JSON_VALUES, max_size=len(keys) + 1)
    line = st.one_of(record.map(_json), record.map(_json), JSON_VALUES.map(_json), st.sampled_from(["{", "", "[]", "{'a': 1}"]))
    return st.lists(line, max_size=4).map(lambda lines: "\n".join(lines).encode())


def json_document(shape: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.one_of(shape.map(_json).map(str.encode), JSON_VALUES.map(_json).map(str.encode), st.binary(max_size=32))


SEQUENCES = st.dictionaries(st.sampled_from(["u1", "u2", "3"]) | st.text(max_size=3),
                            st.lists(st.sampled_from(["i1", "i2", 3, 4]) | JSON_VALUES, max_size=5) | JSON_VALUES, max_size=4)
ITEMS = st.dictionaries(st.sampled_from(["i1", "i2", "3"]),
                        st.dictionaries(st.sampled_from(["title", "description", "brand", "categories"]), JSON_VALUES,
                                        max_size=4) | JSON_VALUES, max_size=3)

# format -> {file name: strategy for its bytes}
CORPORA = {
    "csv": {"interactions.csv": separated_lines(","), "items.csv": separated_lines(",")},
    "recbole": {"x.inter": separated_lines("\t "), "x.item": separated_lines("\t"), "x.item2id": separated_lines("\t")},
    "p5": {"user_sequence.txt": separated_lines(" \t"), "item_textid.txt": separated_lines(" ")},
    "lcrec": {"x.inter.json": json_document(SEQUENCES), "x.item.json": json_document(ITEMS), "x.user2id": separated_lines("\t")},
    "amazon2014": {"reviews_X_5.json": json_lines(["reviewerID", "asin", "unixReviewTime"]),
                   "meta_X.json": json_lines(["asin", "title", "description", "brand", "categories"])},
    "amazon2023": {"X.jsonl": json_lines(["user_id", "parent_asin", "timestamp"]),
                   "meta_X.jsonl": json_lines(["parent_asin", "title", "description", "store", "categories"])},
}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_an_importer_imports_or_refuses_with_the_file_named(name, tmp_path_factory):
    folder = tmp_path_factory.mktemp(name)
    files = CORPORA[name]
    seen = {"cases": 0, "imported": 0}

    @FUZZ
    @given(st.fixed_dictionaries(files), st.sets(st.sampled_from(list(files)[1:])))  # the side files are optional
    def check(contents: dict[str, bytes], left_out: set[str]) -> None:
        for file, data in contents.items():
            if file in left_out:
                (folder / file).unlink(missing_ok=True)
            else:
                (folder / file).write_bytes(data)
        seen["cases"] += 1
        try:
            raw = get_format(name).load(folder)
        except DataFormatError as error:
            assert str(folder) in str(error)  # the file (or the folder searched) is named
            return
        assert isinstance(raw, RawDataset)
        timestamps = raw.interactions["timestamp"].drop_nulls().to_list()
        assert all(0 <= t and math.isfinite(t) for t in timestamps)
        seen["imported"] += 1

    check()
    assert seen["cases"] >= CASES


def test_the_corpus_reaches_past_the_first_line(tmp_path):
    """A sanity check on the corpus: well-formed files of each family import (so errors are not all it tests)."""
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\nu1,i1,1000\nu1,i2,1001\n")
    assert get_format("csv").load(tmp_path).interactions.height == 2
