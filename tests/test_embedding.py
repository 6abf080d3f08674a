"""Embedding backends on real Office item texts: offline model, HF encoder, HTTP endpoint, cache."""

import numpy as np
import pytest

from deepinterest.config import EmbeddingConfig, ItemTextConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.embedding import OpenAIEmbedder, SentenceTransformerEmbedder, embed_texts
from deepinterest.data.item_text import item_texts

from embedding_server import EmbeddingServer


@pytest.fixture(scope="module")
def texts(office):
    return item_texts(PreparedDataset(office), ItemTextConfig())[:40]


@pytest.fixture(scope="module")
def st_model():
    return SentenceTransformerEmbedder(EmbeddingConfig())


def test_item_text_has_every_field_and_trims_descriptions(office):
    texts = item_texts(PreparedDataset(office), ItemTextConfig(description_chars=40))
    assert texts[1].startswith("Title: Northwestern Bell Big-Button Corded Phone")
    assert "Brand: Northwestern Bell" in texts[1] and "Categories: Office Electronics" in texts[1]
    description = texts[1].split("Description: ")[1]
    assert len(description) <= 44 and description.endswith("...")


def test_offline_model_and_hf_encoder_agree(texts, tmp_path):
    st, info = embed_texts(texts, EmbeddingConfig(cache=tmp_path / "c.sqlite"), progress=False)
    hf, _ = embed_texts(texts, EmbeddingConfig(backend="hf", cache=tmp_path / "c.sqlite"), progress=False)
    assert st.shape == (40, 384) and info["computed"] == len(set(texts))
    assert np.allclose(np.linalg.norm(st, axis=1), 1.0, atol=1e-5)
    assert (st * hf).sum(axis=1).min() > 0.99  # same model, same mean pooling
    # Related products are closer than unrelated ones: phones 1 and 2 vs. the rest.
    assert st[1] @ st[2] > np.median(st[1] @ st[10:].T)


def test_cache_serves_a_rerun_and_keys_on_the_model(texts, tmp_path):
    config = EmbeddingConfig(cache=tmp_path / "c.sqlite")
    first, _ = embed_texts(texts, config, progress=False)
    again, info = embed_texts(texts, config, progress=False)
    assert info["computed"] == 0 and info["cache_hits"] == len(set(texts))
    assert np.array_equal(first, again)
    other = EmbeddingConfig(backend="hf", cache=tmp_path / "c.sqlite")
    assert embed_texts(texts[:3], other, progress=False)[1]["computed"] == 3


def test_http_endpoint_with_retries_and_key_from_environment(texts, st_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    with EmbeddingServer(lambda batch: st_model.embed(batch).tolist(), fail_first=1) as server:
        config = EmbeddingConfig(backend="openai", base_url=server.url, model="minilm", api_key_env="TEST_EMBED_KEY",
                                 batch_size=16, cache=tmp_path / "c.sqlite")
        vectors, info = embed_texts(texts, config, progress=False)
        assert server.authorization[-1] == "Bearer sk-test"
        assert server.requests == 1 + 3  # one 503, then three batches of at most 16
    assert np.allclose(vectors, st_model.embed(texts), atol=1e-5)
    assert info["model"].startswith("openai:")


def test_http_backend_needs_url_and_model():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIEmbedder(EmbeddingConfig(backend="openai"))
