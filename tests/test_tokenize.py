"""`deepinterest tokenize` end to end on real Office items, and its handling of bad input."""

import json
import math

import numpy as np
import polars as pl
import pytest

from deepinterest.config import DataConfig, FusionConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.prepare import prepare
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.tokenizer.fusion import fuse
from deepinterest.data.embedding import model_id
from deepinterest.data.item_text import interest_texts, item_texts
from deepinterest.tokenizer.stage import NonFiniteEmbeddingError, check_finite, codes_per_level, tokenize

from embedding_server import EmbeddingServer

SMALL_RQVAE = ["tokenizer.codebook_size=32", "tokenizer.rqvae.epochs=15", "tokenizer.rqvae.hidden=[128, 64]",
               "tokenizer.rqvae.latent_dim=16"]


@pytest.mark.parametrize("method,overrides", [("rqkmeans", ["tokenizer.codebook_size=auto"]), ("rqvae", SMALL_RQVAE)])
def test_office_catalog_is_one_to_one_with_its_health_figures(office, tmp_path, method, overrides):
    config = load_config(None, [f"tokenizer.method={method}", *overrides])
    summary = tokenize(office, tmp_path / method, config, progress=False)
    data = PreparedDataset(office)
    catalog = SIDCatalog.load(tmp_path / method, data.item_ids)
    assert summary["items"] == catalog.n_items == 2420 and summary["levels"] == 3
    assert [catalog.decode(catalog.tokens(i)) for i in range(catalog.n_items)] == list(range(2420))
    sids = pl.read_parquet(tmp_path / method / "sids.parquet")["sid"]
    assert sids.n_unique() == 2420
    size = summary["codebook_size"]
    assert size == (256 if "tokenizer.codebook_size=auto" in overrides else 32)  # auto: 2,420 / 10 -> 256
    assert catalog.codebook_size == size and int(catalog.codes.max()) < size
    assert summary["collision_rate"] == pytest.approx(float((catalog.suffix >= 0).mean()))
    assert len(summary["codebook_usage"]) == 3 and all(0 < u <= 1 for u in summary["codebook_usage"])
    assert summary["codebook_usage"][0] > 0.5
    assert all(1 <= p <= size for p in summary["perplexity"])
    assert (tmp_path / method / "code_usage.png").read_bytes()[:4] == b"\x89PNG"
    # Every distinct item text embedded once, from the cache or afresh, by the configured model.
    texts = set(item_texts(data, config.tokenizer.text))
    embedding = summary["embedding"]
    assert embedding["computed"] + embedding["cache_hits"] == len(texts) > 2000 and embedding["dim"] == 384
    assert embedding["model"] == model_id(config.tokenizer.embedding)
    assert json.loads((tmp_path / method / "summary.json").read_text())["max_bucket"] == summary["max_bucket"]


def test_items_with_empty_text_still_get_unique_sids(tmp_path):
    rows = [(f"u{u}", f"i{(u + k) % 12}") for u in range(12) for k in range(4)]
    pl.DataFrame(rows, schema=["user", "item"], orient="row").write_csv(tmp_path / "interactions.csv")
    titles = ["", "", "", "red wool scarf", "blue wool scarf", "green tea", "black tea", "oolong tea",
              "hiking boots", "running shoes", "tennis ball", "chess set"]
    pl.DataFrame({"item": [f"i{i}" for i in range(12)], "title": titles}).write_csv(tmp_path / "items.csv")
    prepare(DataConfig(format="csv", path=tmp_path, kcore=0), tmp_path / "data")
    config = load_config(None, ["tokenizer.method=rqkmeans", "tokenizer.codebook_size=4", "tokenizer.levels=2"])
    summary = tokenize(tmp_path / "data", tmp_path / "sid", config, progress=False)
    assert summary["empty_text_items"] == 3 and summary["items"] == 12
    sids = pl.read_parquet(tmp_path / "sid" / "sids.parquet")
    assert sids["sid"].n_unique() == 12
    empty = sids.filter(pl.col("item").is_in(["i0", "i1", "i2"]))
    assert empty["codes"].to_list()[0] == empty["codes"].to_list()[1]  # same (empty) text, same code...
    assert empty["suffix"].to_list() == [0, 1, 2]  # ...told apart by the suffix


def test_non_finite_embeddings_stop_the_stage_with_item_ids(office, tmp_path):
    def broken(texts):  # an endpoint that answers NaN for phones
        return [[math.nan] * 8 if "Phone" in t else [1.0] + [0.0] * 7 for t in texts]

    with EmbeddingServer(broken) as server:
        config = load_config(None, ["tokenizer.embedding.backend=openai", f"tokenizer.embedding.base_url={server.url}",
                                    "tokenizer.embedding.model=broken", "tokenizer.method=rqkmeans"])
        with pytest.raises(NonFiniteEmbeddingError, match=r"NaN or infinite embeddings for \d+ item\(s\): 0, 1, 2"):
            tokenize(office, tmp_path / "sid", config, progress=False)
    assert not (tmp_path / "sid").exists()
    with pytest.raises(NonFiniteEmbeddingError, match="b"):
        check_finite(np.array([[0.0], [np.inf]]), ["a", "b"])


def test_interest_texts_keep_only_rldi_kept_interests_by_confidence(tmp_path):
    pl.DataFrame({"item": ["0", "0", "0", "5"], "interest": ["home office calls", "good quality", "elderly users", "x"],
                  "keep": [True, False, True, True], "confidence": [0.6, 0.9, 0.8, 0.5]}).write_parquet(tmp_path / "i.parquet")
    assert interest_texts(tmp_path / "i.parquet", ["0", "1", "5"]) == ["elderly users; home office calls", "", "x"]
    with pytest.raises(ValueError, match="none of its items"):
        interest_texts(tmp_path / "i.parquet", ["a", "b"])


@pytest.mark.parametrize("method", ["concat", "projection"])
def test_fusion_paths(method):
    generator = np.random.default_rng(0)
    text = generator.normal(size=(50, 12)).astype(np.float32)
    interests = generator.normal(size=(50, 6)).astype(np.float32)
    interests[:10] = 0  # items without interests
    fused = fuse(text, FusionConfig(method=method, interest_weight=0.5, projection_dim=8, projection_steps=300), interests=interests)
    if method == "concat":
        assert fused.shape == (50, 18)
        assert np.allclose(np.linalg.norm(fused[:, :12], axis=1), 1) and np.allclose(fused[:10, 12:], 0)
        assert np.allclose(np.linalg.norm(fused[10:, 12:], axis=1), 0.5)
    else:
        assert fused.shape == (50, 8) and np.isfinite(fused).all()
        assert np.linalg.matrix_rank(fused) == 8  # a real 8-d projection, not a collapsed one


def test_ieid_interests_change_the_catalog(office, tmp_path):
    data = PreparedDataset(office)
    interests = pl.DataFrame({"item": data.item_ids[:400], "interest": ["gift for a new home office"] * 200 + ["school supplies for kids"] * 200})
    interests.write_parquet(tmp_path / "interests.parquet")
    config = load_config(None, ["tokenizer.method=rqkmeans", "tokenizer.codebook_size=64", "tokenizer.fusion.interest_weight=1.0"])
    plain = tokenize(office, tmp_path / "plain", config, progress=False)
    ieid = tokenize(office, tmp_path / "ieid", config, interests=tmp_path / "interests.parquet", progress=False)
    assert ieid["items_with_interests"] == 400 and "items_with_interests" not in plain
    codes = pl.read_parquet(tmp_path / "ieid" / "sids.parquet")["codes"].to_list()
    first = {tuple(c[:1]) for c in codes[:200]}, {tuple(c[:1]) for c in codes[200:400]}
    assert not first[0] & first[1]  # the two interest groups never share a level-1 code


def test_collaborative_sids_follow_the_sasrec_item_embeddings(office, tmp_path):
    """Items that a (here, planted) SASRec places together share their first code; a run on other data is refused."""
    from safetensors.numpy import save_file
    from typer.testing import CliRunner

    from deepinterest.cli.main import app

    n = PreparedDataset(office).n_items
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)).astype(np.float32) * 5
    table = np.zeros((n + 1, 16), dtype=np.float32)
    table[1:] = centres[np.arange(n) % 4] + rng.normal(size=(n, 16)).astype(np.float32) * 0.05
    run = tmp_path / "sasrec"
    run.mkdir()
    save_file({"item_embedding.weight": table}, str(run / "model.safetensors"))
    config = load_config(None, ["tokenizer.method=rqkmeans", "tokenizer.codebook_size=64", "tokenizer.fusion.collab_weight=3.0",
                                f"tokenizer.collab={run}"])
    summary = tokenize(office, tmp_path / "cf", config, progress=False)
    assert summary["collab"] == str(run)
    assert np.load(tmp_path / "cf" / "item_vectors.npy").shape[1] == 384 + 16
    first = np.asarray([c[0] for c in pl.read_parquet(tmp_path / "cf" / "sids.parquet")["codes"].to_list()])
    groups = [set(first[np.arange(n) % 4 == g].tolist()) for g in range(4)]
    assert all(not groups[a] & groups[b] for a in range(4) for b in range(a + 1, 4))  # the groups never share a code

    save_file({"item_embedding.weight": table[:100]}, str(run / "model.safetensors"))
    result = CliRunner().invoke(app, ["tokenize", "--data", str(office), "--out", str(tmp_path / "bad"), "--collab", str(run),
                                      "--set", "tokenizer.method=rqkmeans", "--set", "tokenizer.codebook_size=64"])
    assert result.exit_code == 2 and "99 items" in result.output and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("items,size", [(2420, 256), (12101, 1024), (18357, 2048), (6250, 512), (35, 16)])
def test_auto_codebook_size_keeps_about_ten_items_a_first_level_code(items, size):
    assert codes_per_level(load_config(None, ["tokenizer.codebook_size=auto"]).tokenizer, items) == size
    assert codes_per_level(load_config(None, ["tokenizer.codebook_size=300"]).tokenizer, items) == 300  # as given
    with pytest.raises(ValueError, match="codebook_size"):
        load_config(None, ["tokenizer.codebook_size=1"])
