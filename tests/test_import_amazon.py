"""Amazon 2014/2018/2023 importers, on small files written in the exact formats of the real dumps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from deepinterest.data.errors import DataFormatError
from deepinterest.data.formats import get_format
from deepinterest.data.formats.amazon import load_amazon2014, load_amazon2018, load_amazon2023


def write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def write_json_lines(path: Path, records: list[dict]) -> Path:
    return write_lines(path, [json.dumps(r) for r in records])


def items_by_id(dataset) -> dict[str, dict]:
    return {row["item"]: row for row in dataset.items.iter_rows(named=True)}


# --- 2014 -------------------------------------------------------------------------------------

REVIEWS_2014 = [
    {"reviewerID": "A2SUAM1J3GNN3B", "asin": "B0001", "reviewerName": "J. McDonald", "helpful": [2, 3],
     "reviewText": "Nice.", "overall": 5.0, "summary": "Good", "unixReviewTime": 1252800000,
     "reviewTime": "09 13, 2009"},
    {"reviewerID": "A1", "asin": "B0002", "helpful": [0, 0], "reviewText": "Meh", "overall": 3.0,
     "summary": "ok", "unixReviewTime": 1390000000, "reviewTime": "01 18, 2014"},
    {"reviewerID": "A2SUAM1J3GNN3B", "asin": "B0002", "overall": 4.0, "unixReviewTime": 1252800000},
]

# Real 2014 meta lines are Python dict literals: single quotes, nested category paths.
META_2014 = [
    "{'asin': 'B0001', 'title': 'Rose &amp; Oud Face Cream', 'price': 12.99, "
    "'imUrl': 'http://ecx.images-amazon.com/images/I/41.jpg', "
    "'related': {'also_bought': ['B0002'], 'bought_together': ['B0002']}, 'salesRank': {'Beauty': 1234}, "
    "'categories': [['Beauty', 'Skin Care', 'Face'], ['Beauty', 'Fragrance']], 'brand': 'Acme', "
    "'description': \"It's a cream.\"}",
    "{'asin': 'B0002', 'categories': [['Beauty']]}",
]


def test_2014_folder(tmp_path):
    write_json_lines(tmp_path / "reviews_Beauty_5.json.gz", REVIEWS_2014)
    write_lines(tmp_path / "meta_Beauty.json.gz", META_2014)
    data = load_amazon2014(tmp_path)

    inter = data.interactions
    assert inter["user"].to_list() == ["A2SUAM1J3GNN3B", "A1", "A2SUAM1J3GNN3B"]
    assert inter["item"].to_list() == ["B0001", "B0002", "B0002"]
    assert inter["timestamp"].to_list() == [1252800000, 1390000000, 1252800000]
    assert inter["order"].to_list() == [0, 1, 2]

    items = items_by_id(data)
    assert items["B0001"] == {
        "item": "B0001",
        "title": "Rose & Oud Face Cream",
        "description": "It's a cream.",
        "brand": "Acme",
        "categories": "Beauty, Skin Care, Face, Fragrance",
        "image_url": "http://ecx.images-amazon.com/images/I/41.jpg",
    }
    assert items["B0002"] == {"item": "B0002", "title": None, "description": None, "brand": None,
                              "categories": "Beauty", "image_url": None}


def test_2014_reviews_file_finds_meta_beside_it(tmp_path):
    reviews = write_json_lines(tmp_path / "reviews_Beauty_5.json.gz", REVIEWS_2014)
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", REVIEWS_2014[:1])
    write_lines(tmp_path / "meta_Beauty.json.gz", META_2014)
    data = get_format("amazon2014").load(reviews)
    assert data.interactions.height == 3
    assert data.items["item"].to_list() == ["B0001", "B0002"]


def test_2014_folder_with_full_and_core_reviews_is_ambiguous(tmp_path):
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", REVIEWS_2014)
    write_json_lines(tmp_path / "reviews_Beauty_5.json.gz", REVIEWS_2014)
    with pytest.raises(DataFormatError, match="reviews_Beauty.json.gz, reviews_Beauty_5.json.gz; pass"):
        load_amazon2014(tmp_path)


def test_missing_meta_gives_empty_items(tmp_path):
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", REVIEWS_2014)
    data = load_amazon2014(tmp_path)
    assert data.interactions.height == 3
    assert data.items.height == 0


@pytest.mark.parametrize(
    "line",
    [
        "__import__('os').system('touch PWNED')",
        "{'asin': 'B0001', 'title': __import__('os').system('touch PWNED')}",
    ],
)
def test_2014_meta_code_is_refused_not_run(tmp_path, monkeypatch, line):
    monkeypatch.chdir(tmp_path)  # where `touch PWNED` would land if the line were executed
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", REVIEWS_2014)
    write_lines(tmp_path / "meta_Beauty.json.gz", [META_2014[1], line])
    with pytest.raises(DataFormatError, match=r"meta_Beauty\.json\.gz:2"):
        load_amazon2014(tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_json_line_names_file_and_line(tmp_path):
    lines = [json.dumps(r) for r in REVIEWS_2014]
    lines[2] = lines[2][:25]  # truncated like an interrupted download
    write_lines(tmp_path / "reviews_Beauty.json.gz", lines)
    with pytest.raises(DataFormatError) as info:
        load_amazon2014(tmp_path)
    assert "reviews_Beauty.json.gz:3" in str(info.value)


def test_review_missing_required_field(tmp_path):
    records = [dict(r) for r in REVIEWS_2014]
    del records[1]["unixReviewTime"]
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", records)
    expected = r"reviews_Beauty\.json\.gz:2: missing required field\(s\) unixReviewTime"
    with pytest.raises(DataFormatError, match=expected):
        load_amazon2014(tmp_path)


def test_non_integer_timestamp(tmp_path):
    records = [dict(REVIEWS_2014[0], unixReviewTime="09 13, 2009")]
    write_json_lines(tmp_path / "reviews_Beauty.json.gz", records)
    with pytest.raises(DataFormatError, match=r":1: timestamp"):
        load_amazon2014(tmp_path)


def test_missing_path_and_meta_file_passed(tmp_path):
    with pytest.raises(DataFormatError, match="no such file or folder"):
        load_amazon2014(tmp_path / "nope")
    with pytest.raises(DataFormatError, match="no reviews file found"):
        load_amazon2014(tmp_path)
    meta = write_lines(tmp_path / "meta_Beauty.json.gz", META_2014)
    with pytest.raises(DataFormatError, match="metadata file"):
        load_amazon2014(meta)


# --- 2018 -------------------------------------------------------------------------------------

REVIEWS_2018 = [
    {"overall": 5.0, "vote": "2", "verified": True, "reviewTime": "10 25, 2016", "reviewerID": "U1",
     "asin": "0001", "style": {"Size:": " Large"}, "reviewerName": "x", "reviewText": "good",
     "summary": "Five Stars", "unixReviewTime": 1477353600},
    {"overall": 4.0, "verified": False, "reviewerID": "U2", "asin": "0002", "unixReviewTime": 1477353601},
]

META_2018 = [
    {"category": ["Clothing, Shoes &amp; Jewelry", "Women", "Clothing"], "description": ["Soft.", "Warm."],
     "title": "Wool Scarf &amp; Hat", "also_buy": ["0002"], "brand": "Knitco", "main_cat": "Fashion",
     "imageURL": ["https://images-na.ssl-images-amazon.com/images/I/a._SS40_.jpg"],
     "imageURLHighRes": ["https://images-na.ssl-images-amazon.com/images/I/a.jpg"], "asin": "0001"},
    {"category": [], "description": [], "title": "Plain Socks", "brand": "", "asin": "0002",
     "imageURL": ["https://images-na.ssl-images-amazon.com/images/I/b._SS40_.jpg"], "imageURLHighRes": []},
    # Duplicate asin line, as in some real 2018 meta dumps: the first one is kept.
    {"category": ["Other"], "title": "Duplicate", "asin": "0001"},
]


def test_2018_folder(tmp_path):
    write_json_lines(tmp_path / "AMAZON_FASHION_5.json.gz", REVIEWS_2018)
    write_json_lines(tmp_path / "meta_AMAZON_FASHION.json.gz", META_2018)
    data = load_amazon2018(tmp_path)

    assert data.interactions.to_dicts() == [
        {"user": "U1", "item": "0001", "timestamp": 1477353600, "order": 0},
        {"user": "U2", "item": "0002", "timestamp": 1477353601, "order": 1},
    ]
    items = items_by_id(data)
    assert data.items.height == 2
    assert items["0001"] == {
        "item": "0001",
        "title": "Wool Scarf & Hat",
        "description": "Soft., Warm.",
        "brand": "Knitco",
        "categories": "Clothing, Shoes & Jewelry, Women, Clothing",
        "image_url": "https://images-na.ssl-images-amazon.com/images/I/a.jpg",
    }
    assert items["0002"] == {
        "item": "0002",
        "title": "Plain Socks",
        "description": None,
        "brand": None,
        "categories": None,
        "image_url": "https://images-na.ssl-images-amazon.com/images/I/b._SS40_.jpg",
    }


def test_2018_folder_with_full_and_core_reviews_is_ambiguous(tmp_path):
    write_json_lines(tmp_path / "AMAZON_FASHION.json.gz", REVIEWS_2018)
    write_json_lines(tmp_path / "AMAZON_FASHION_5.json.gz", REVIEWS_2018)
    write_json_lines(tmp_path / "meta_AMAZON_FASHION.json.gz", META_2018)  # not a reviews candidate
    with pytest.raises(DataFormatError, match="AMAZON_FASHION.json.gz, AMAZON_FASHION_5.json.gz; pass"):
        load_amazon2018(tmp_path)
    data = load_amazon2018(tmp_path / "AMAZON_FASHION.json.gz")
    assert data.items.height == 2


# --- 2023 -------------------------------------------------------------------------------------

REVIEWS_2023 = [
    {"rating": 5.0, "title": "Great", "text": "Love it", "images": [], "asin": "B00YQ6X8EO",
     "parent_asin": "B00YQ6X8EO", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588687728923,
     "helpful_vote": 0, "verified_purchase": True},
    {"rating": 4.0, "title": "Ok", "text": "Fine", "images": [], "asin": "B081TJ8YS3",
     "parent_asin": "B08BBQ29N5", "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588615855070,
     "helpful_vote": 1, "verified_purchase": True},
]

META_2023 = [
    {"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner, 8oz &amp; more",
     "average_rating": 4.8, "rating_number": 10, "features": [], "description": ["Conditions leather."],
     "price": None, "images": [{"thumb": "https://m.media-amazon.com/images/I/t.jpg",
                                "large": "https://m.media-amazon.com/images/I/l.jpg",
                                "variant": "MAIN", "hi_res": None}],
     "videos": [], "store": "Howard Products", "categories": [],
     "details": {"Brand": "Howard"}, "parent_asin": "B00YQ6X8EO", "bought_together": None},
    {"main_category": "All Beauty", "title": "Hair Clips", "description": [],
     "images": [{"thumb": "https://m.media-amazon.com/images/I/t2.jpg",
                 "large": "https://m.media-amazon.com/images/I/l2.jpg",
                 "variant": "MAIN", "hi_res": "https://m.media-amazon.com/images/I/h2.jpg"}],
     "store": None, "categories": ["Beauty & Personal Care", "Hair Care"],
     "details": {"Brand": "Clipco"}, "parent_asin": "B08BBQ29N5"},
]


def test_2023_folder(tmp_path):
    write_json_lines(tmp_path / "All_Beauty.jsonl", REVIEWS_2023)
    write_json_lines(tmp_path / "meta_All_Beauty.jsonl", META_2023)
    data = load_amazon2023(tmp_path)

    assert data.interactions.to_dicts() == [
        {"user": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "item": "B00YQ6X8EO", "timestamp": 1588687728, "order": 0},
        {"user": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "item": "B08BBQ29N5", "timestamp": 1588615855, "order": 1},
    ]
    items = items_by_id(data)
    assert items["B00YQ6X8EO"] == {
        "item": "B00YQ6X8EO",
        "title": "Howard LC0008 Leather Conditioner, 8oz & more",
        "description": "Conditions leather.",
        "brand": "Howard Products",
        "categories": "All Beauty",
        "image_url": "https://m.media-amazon.com/images/I/l.jpg",
    }
    assert items["B08BBQ29N5"]["brand"] == "Clipco"
    assert items["B08BBQ29N5"]["categories"] == "Beauty & Personal Care, Hair Care"
    assert items["B08BBQ29N5"]["image_url"] == "https://m.media-amazon.com/images/I/h2.jpg"


def test_2023_gzip_reviews_file(tmp_path):
    reviews = write_json_lines(tmp_path / "All_Beauty.jsonl.gz", REVIEWS_2023)
    write_json_lines(tmp_path / "meta_All_Beauty.jsonl.gz", META_2023)
    data = load_amazon2023(reviews)
    assert data.interactions["timestamp"].to_list() == [1588687728, 1588615855]
    assert data.items["item"].to_list() == ["B00YQ6X8EO", "B08BBQ29N5"]


def test_2023_review_without_parent_asin(tmp_path):
    records = [dict(r) for r in REVIEWS_2023]
    records[1]["parent_asin"] = None
    write_json_lines(tmp_path / "All_Beauty.jsonl", records)
    with pytest.raises(DataFormatError, match=r"All_Beauty\.jsonl:2: missing required field\(s\) parent_asin"):
        load_amazon2023(tmp_path)
