"""Importers on slices of the real files in ../shared/data and on fixtures in the real formats."""

import gzip
import json
import shutil

import polars as pl
import pytest

from deepinterest.data.errors import DataFormatError, UnknownFormatError
from deepinterest.data.formats import FORMATS, get_format


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(UnknownFormatError) as err:
        get_format("movielens")
    for name in FORMATS:
        assert name in str(err.value)


def test_p5_beauty_slice_with_full_titles(shared_data, tmp_path):
    source = shared_data / "amazon2014-beauty"
    lines = (source / "user_sequence.txt").read_text().splitlines()[:50]
    (tmp_path / "user_sequence.txt").write_text("\n".join(lines) + "\n")
    for name in ("products_lookup.csv", "item_id_to_int.json", "item_textid.txt"):
        shutil.copy(source / name, tmp_path / name)
    raw = get_format("p5").load(tmp_path)
    first = lines[0].split()
    assert raw.interactions.height == sum(len(line.split()) - 1 for line in lines)
    user_rows = raw.interactions.filter(pl.col("user") == first[0]).sort("order")
    assert user_rows["item"].to_list() == first[1:]
    assert raw.interactions["timestamp"].null_count() == raw.interactions.height
    titles = dict(zip(raw.items["item"], raw.items["title"]))
    # B004756YJA is the first item of the first user; its full title comes from products_lookup.csv.
    lookup = json.loads((source / "item_id_to_int.json").read_text())["B004756YJA"]
    names = pl.read_csv(source / "products_lookup.csv")
    expected = names.filter(pl.col("global_product_id") == lookup)["name"][0].strip()
    assert titles["B004756YJA"] == expected


def test_p5_sports_uses_short_titles(shared_data):
    raw = get_format("p5").load(shared_data / "amazon2014-sports")
    titles = dict(zip(raw.items["item"], raw.items["title"]))
    assert titles["B0000C4LOU"] == "jump rope olympic style jump"


def test_p5_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u1 a b c\nu2\nu3 a b\n")
    with pytest.raises(DataFormatError, match=r"user_sequence\.txt:2"):
        get_format("p5").load(tmp_path)


def test_lcrec_office_with_metadata(shared_data):
    raw = get_format("lcrec").load(shared_data / "amazon2014-office")
    assert raw.interactions.height == 53258
    items = {row["item"]: row for row in raw.items.iter_rows(named=True)}
    assert items["2"]["title"] == "AT&T 210 Corded Phone, Black, 1 Handset"  # HTML entity decoded
    assert items["0"]["brand"] == "VTech"
    assert items["0"]["description"] is None  # empty in the source: missing, not ""


def test_lcrec_instruments_restores_asins(shared_data):
    raw = get_format("lcrec").load(shared_data / "amazon2018-instruments")
    first = raw.interactions.sort("order").row(0, named=True)
    assert first["user"] == "A3LXYBBLOOEOMQ" and first["item"] == "B002SQJL9U"


def test_lcrec_broken_json_reports_line(tmp_path):
    (tmp_path / "X.inter.json").write_text('{\n  "0": [1, 2, 3],\n  "1": [4, 5\n}\n')
    with pytest.raises(DataFormatError, match=r"X\.inter\.json:4"):
        get_format("lcrec").load(tmp_path)


def test_lcrec_non_list_sequence_is_refused(tmp_path):
    (tmp_path / "X.inter.json").write_text('{"0": 5}')
    with pytest.raises(DataFormatError, match="expected a list"):
        get_format("lcrec").load(tmp_path)


def test_recbole_atomic_files_with_id_maps(tmp_path):
    (tmp_path / "Toys.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "0\t1\t5.0\t1300000000\n0\t0\t4.0\t1200000000\n1\t1\t3.0\t1250000000.0\n"
    )
    (tmp_path / "Toys.item").write_text("item_id:token\ttitle:token_seq\tcategories:token_seq\n0\tRed Car\tToys Cars\n1\tBlue Ball\t\n")
    (tmp_path / "Toys.item2id").write_text("ASIN_A\t0\nASIN_B\t1\n")
    (tmp_path / "Toys.user2id").write_text("USER_X\t0\nUSER_Y\t1\n")
    raw = get_format("recbole").load(tmp_path)
    assert raw.interactions.select("user", "item", "timestamp").rows() == [
        ("USER_X", "ASIN_B", 1300000000), ("USER_X", "ASIN_A", 1200000000), ("USER_Y", "ASIN_B", 1250000000)]
    items = {r["item"]: r for r in raw.items.iter_rows(named=True)}
    assert items["ASIN_A"]["title"] == "Red Car" and items["ASIN_A"]["categories"] == "Toys Cars"
    assert items["ASIN_B"]["categories"] is None


def test_recbole_wrong_field_count_reports_line(tmp_path):
    (tmp_path / "Toys.inter").write_text("user_id:token\titem_id:token\n0\t1\n0\n")
    with pytest.raises(DataFormatError, match=r"Toys\.inter:3"):
        get_format("recbole").load(tmp_path)


def test_csv_with_iso_timestamps_and_items(tmp_path):
    (tmp_path / "interactions.csv").write_text(
        "user,item,timestamp\nu1,007,2020-01-02T00:00:00\nu1,008,2020-01-01T00:00:00\n")
    (tmp_path / "items.csv").write_text("item,title,price\n007,Bond,3\n")
    raw = get_format("csv").load(tmp_path)
    assert raw.interactions["item"].to_list() == ["007", "008"]  # ids stay strings
    assert raw.interactions["timestamp"].to_list() == [1577923200, 1577836800]
    assert raw.items.row(0, named=True)["title"] == "Bond"


def test_csv_empty_user_reports_line(tmp_path):
    (tmp_path / "interactions.csv").write_text("user,item\nu1,a\n,b\n")
    with pytest.raises(DataFormatError, match=r"interactions\.csv:3.*empty user"):
        get_format("csv").load(tmp_path)


def test_parquet_round_trip(tmp_path):
    pl.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "timestamp": [3, 4, 5]}).write_parquet(tmp_path / "interactions.parquet")
    raw = get_format("parquet").load(tmp_path / "interactions.parquet")
    assert raw.interactions.select("user", "item", "timestamp").rows() == [("1", "a", 3), ("1", "b", 4), ("2", "a", 5)]
    assert raw.items.height == 0


def test_gzip_detected_by_content(tmp_path):
    with gzip.open(tmp_path / "user_sequence.txt", "wt") as handle:
        handle.write("u1 a b c\n")
    assert get_format("p5").load(tmp_path).interactions.height == 3
