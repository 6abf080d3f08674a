"""The offline visual tagger on real photos that the project's dependencies ship (no mocks, no network)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import sklearn

from deepinterest.mining.visual import DEFAULT_TOP_K, ImageTagger, imagenet_labels, resolve_image, tags_text

HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"  # portrait in navy uniform
SKLEARN_IMAGES = Path(sklearn.__file__).parent / "datasets" / "images"
CHINA, FLOWER = SKLEARN_IMAGES / "china.jpg", SKLEARN_IMAGES / "flower.jpg"


@pytest.fixture(scope="module")
def tagger() -> ImageTagger:
    return ImageTagger()


@pytest.fixture(scope="module")
def tagged(tagger) -> list[list[tuple[str, float]]]:
    """Tags of the three photos, computed once (each forward pass costs a little CPU)."""
    return tagger.tag([HOPPER, CHINA, FLOWER])


def labels_of(tags: list[tuple[str, float]]) -> set[str]:
    return {label for label, _ in tags}


def test_labels_are_imagenet_1k():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert (labels[0], labels[652], labels[985]) == ("tench", "military uniform", "daisy")


def test_tags_real_photos(tagged):
    hopper, china, flower = tagged
    for tags in (hopper, china, flower):
        assert len(tags) == DEFAULT_TOP_K
        probs = [p for _, p in tags]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert labels_of(hopper) & {"military uniform", "suit", "bow tie", "Windsor tie", "academic gown"}
    assert labels_of(china) & {"palace", "monastery", "bell cote", "pagoda", "church"}
    assert flower[0][0] == "daisy"


def test_batches_and_top_k_do_not_change_answers(tagged):
    single = ImageTagger(top_k=2, batch_size=1).tag([HOPPER, FLOWER])
    for one, many in zip(single, [tagged[0], tagged[2]]):
        assert [label for label, _ in one] == [label for label, _ in many[:2]]
        assert np.allclose([p for _, p in one], [p for _, p in many[:2]], atol=1e-4)


def test_features_are_unit_rows(tagger, tmp_path):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 not really a jpeg " * 10)
    feats = tagger.features([HOPPER, FLOWER, garbage])
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    assert np.allclose(np.linalg.norm(feats[:2], axis=1), 1.0, atol=1e-5)
    assert not feats[2].any()  # unreadable: a zero row
    assert feats[0] @ feats[1] < 0.9  # different photos, different features


def test_unreadable_image_gives_no_tags(tagger, tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    tags = tagger.tag([garbage, FLOWER, text, tmp_path / "missing.jpg"])
    assert tags[0] == [] and tags[2] == [] and tags[3] == []
    assert tags[1][0][0] == "daisy"  # a bad file in a batch does not spoil its neighbours
    assert tagger.tag([]) == [] and tagger.features([]).shape == (0, 1280)


def test_resolve_image(tmp_path):
    image = tmp_path / "img" / "a.jpg"
    image.parent.mkdir()
    image.write_bytes(HOPPER.read_bytes())
    assert resolve_image(str(image), None) == image
    assert resolve_image(str(image), tmp_path / "elsewhere") == image  # absolute wins over the root
    assert resolve_image("img/a.jpg", tmp_path) == image
    assert resolve_image("img/a.jpg", None) is None
    assert resolve_image("https://example.com/a.jpg", tmp_path) is None
    assert resolve_image("HTTP://example.com/a.jpg", tmp_path) is None
    assert resolve_image("img/missing.jpg", tmp_path) is None
    assert resolve_image(str(tmp_path / "img"), None) is None  # a directory is not an image
    assert resolve_image(None, tmp_path) is None and resolve_image("  ", tmp_path) is None


def test_tags_text():
    tags = [("military uniform", 0.6234), ("suit", 0.1149)]
    assert tags_text(tags) == "military uniform (0.62), suit (0.11)"
    assert tags_text([]) == ""
