"""`deepinterest serve` over a real run trained here: the HTTP API over a real port, bad input, micro-batching,
a fuzz run, and the inspection page in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from category_miner import CategoryMiner, office_pipeline
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.data.dataset import PreparedDataset
from deepinterest.serving.launch import serving

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory) -> Path:
    """A whole `deepinterest run` on Office (decoder backbone, one small epoch): RLDI-kept interests, a model."""
    folder = tmp_path_factory.mktemp("serve")
    with CategoryMiner() as server:
        config = office_pipeline("office-serve-test", folder / "mining.sqlite", server.url, explain=0, sft={
            "backbone": "decoder", "d_model": 32, "layers": 1, "heads": 2, "d_ff": 64, "epochs": 1, "batch_size": 64,
            "valid_limit": 200, "beams": 20})
        (folder / "office.yaml").write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(app, ["run", str(folder / "office.yaml"), "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"


@pytest.fixture(scope="module")
def server(pipeline_run):
    with serving(pipeline_run, "serve.threads=1", "serve.max_history=60", log=pipeline_run / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def data(pipeline_run) -> PreparedDataset:
    return PreparedDataset(pipeline_run / "data")


def test_recommendations_over_http_match_the_runs_own_test_rankings(server, pipeline_run, data):
    """The server ranks a history exactly as `deepinterest evaluate` did: its top 20 for each test history."""
    examples = data.examples("test")
    rows = {r["user"]: r["ranked"] for r in map(json.loads, (pipeline_run / "sft" / "rankings.jsonl").read_text().splitlines())}
    with httpx.Client(base_url=server, timeout=60) as http:
        for position in range(0, 300, 37):
            user, history = data.user_ids[int(examples.users[position])], examples.histories[position]
            raw = [data.item_ids[i] for i in history]
            answer = http.post("/recommend", json={"raw_items": raw, "k": 20, "explain": False})
            assert answer.status_code == 200, answer.text
            recs = answer.json()["recommendations"]
            assert [r["raw_id"] for r in recs] == rows[user]
            assert [r["rank"] for r in recs] == list(range(1, 21))
            assert all(a["score"] >= b["score"] for a, b in zip(recs, recs[1:]))
            same = http.post("/recommend", json={"items": history[-60:], "k": 20, "explain": False}).json()
            assert [r["item"] for r in same["recommendations"]] == [r["item"] for r in recs]


def test_a_known_user_gets_k_items_with_titles_sids_and_interest_explanations(server, data, pipeline_run):
    with httpx.Client(base_url=server, timeout=60) as http:
        health = http.get("/health").json()
        assert health["status"] == "ok" and health["items"] == 2420 and health["users"] == 4905 and health["interests"]
        assert health["backbone"] == "decoder" and "test" in health["metrics"]
        by_id = http.post("/recommend", json={"user": 7, "k": 5}).json()
        by_raw = http.post("/recommend", json={"raw_user": data.user_ids[7], "k": 5}).json()
        assert by_id == by_raw
        assert [h["item"] for h in by_id["history"]] == data.sequences["items"][7].to_list()
        recs = by_id["recommendations"]
        assert len(recs) == 5 and all(r["title"] and r["sid"].startswith("<a_") for r in recs)
        for rec in recs:
            why = rec["explanation"]
            assert why["text"] and isinstance(why["weak"], bool)
            assert why["weak"] or all(m["similarity"] >= 0.6 for m in why["matches"])
        assert any(m for r in recs for m in r["explanation"]["matches"]), "the category interests explain something"
        seen = set(h["item"] for h in by_id["history"])
        kept_out = http.get("/users/7/recommendations", params={"k": 20, "exclude_history": True}).json()
        assert not seen & {r["item"] for r in kept_out["recommendations"]}

        item = http.get(f"/items/{recs[0]['item']}").json()
        assert item == http.get(f"/items/raw/{recs[0]['raw_id']}").json()
        path = item["trie_path"]
        assert "".join(step["token"] for step in path) == item["sid"]
        assert path[0]["items_with_prefix"] >= path[-1]["items_with_prefix"] >= 1
        assert item["interests"] and {"interest", "keep"} <= set(item["interests"][0])
        quality = pl.read_parquet(pipeline_run / "label" / "items.parquet").filter(pl.col("item") == recs[0]["raw_id"])
        assert item["q"] == pytest.approx(quality["q"].item())  # the run's own q_i, not just a number in 0..1
        kept = pl.read_parquet(pipeline_run / "label" / "interests.parquet").filter(pl.col("item") == recs[0]["raw_id"])
        assert sum(i["keep"] for i in item["interests"]) == int(kept["keep"].sum())
        schema = http.get("/openapi.json").json()
        assert {"/recommend", "/items/{item}", "/health"} <= set(schema["paths"])


@pytest.mark.parametrize("body, status, field", [
    ({"items": []}, 422, "items"),
    ({"items": [1, "x"]}, 422, "items.1"),
    ({"items": [1, 2.5]}, 422, "items.1"),
    ({"items": [1, 99999]}, 422, "items.1"),
    ({"items": list(range(61))}, 422, "items"),  # serve.max_history=60
    ({"raw_items": ["no-such-asin"]}, 422, "raw_items.0"),
    ({"user": 1, "k": 21}, 422, "k"),
    ({"user": 1, "k": 10**30}, 422, "k"),
    ({"user": -1}, 422, "user"),
    ({"user": True}, 422, "user"),
    ({"user": 1, "items": [2]}, 422, "body"),
    ({"user": 1, "limit": 3}, 422, "limit"),
    ([1, 2], 422, "body"),
])
def test_bad_input_gets_a_4xx_that_names_the_field(server, body, status, field):
    answer = httpx.post(f"{server}/recommend", json=body, timeout=30)
    assert answer.status_code == status and answer.json()["field"] == field, answer.text
    assert answer.json()["error"].startswith(field)


def test_malformed_and_oversized_bodies_and_bad_paths(server):
    broken = httpx.post(f"{server}/recommend", content=b'{"user": 1,', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["field"] == "body" and "malformed JSON" in broken.json()["error"]
    huge = httpx.post(f"{server}/recommend", content=b"[" + b"1," * 40000 + b"1]", headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["field"] == "body"
    assert httpx.get(f"{server}/items/abc").status_code == 422
    assert httpx.get(f"{server}/items/2420").status_code == 404 and "no item 2420" in httpx.get(f"{server}/items/2420").text
    assert httpx.get(f"{server}/users/raw/nobody").status_code == 404
    assert httpx.put(f"{server}/recommend").status_code == 405


def test_concurrent_requests_share_searches_and_get_the_answers_they_would_get_alone(server):
    users = list(range(100, 148))
    with httpx.Client(base_url=server, timeout=60) as http:
        alone = {u: http.post("/recommend", json={"user": u, "k": 10}).json()["recommendations"] for u in users[:6]}
        before = http.get("/health").json()["batching"]
        with ThreadPoolExecutor(16) as pool:
            together = dict(zip(users, pool.map(lambda u: http.post("/recommend", json={"user": u, "k": 10}).json(), users)))
        after = http.get("/health").json()["batching"]
    assert after["requests"] - before["requests"] == len(users)
    assert after["searches"] - before["searches"] < len(users)  # some requests shared a search
    for user, recs in alone.items():
        assert [r["item"] for r in together[user]["recommendations"]] == [r["item"] for r in recs]


def test_two_thousand_fuzzed_requests_get_no_5xx_and_leave_the_answers_unchanged(server, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run as a script: its sibling modules import
    spec = importlib.util.spec_from_file_location("serve_fuzz", ROOT / "benchmarks" / "serve_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.fuzz(server, requests=2000, seed=1, timeout=30, max_body=65536)
    assert result["server_errors"] == 0 and not result["failures"], result["failures"]
    assert result["same_answer_after"]
    assert {422, 404, 413} <= set(result["statuses"])


def test_serve_refuses_what_it_cannot_serve(tmp_path, pipeline_run):
    missing = CliRunner().invoke(app, ["serve", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no such run folder" in " ".join(missing.output.split())
    data_only = CliRunner().invoke(app, ["serve", str(pipeline_run / "data")])
    assert data_only.exit_code == 2 and "not a trained generative run" in " ".join(data_only.output.split())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make install installs it)")
def test_the_page_shows_a_users_recommendations_with_explanations_in_a_real_browser(server, pipeline_run):
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (make install)")
    shots = pipeline_run / "screenshots"
    shots.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(server + "/")
        assert "office-serve-test" in page.title()
        page.locator("a.user-link").nth(2).click()
        page.wait_for_selector("#recommendations")
        rows = page.locator("tr.rec")
        assert rows.count() == 10
        why = rows.locator("td.why").all_inner_texts()
        assert all(" ~ " in text or "no kept interests" in text for text in why)
        assert page.locator("ol.history li").count() >= 5  # Office users have at least 5 items
        page.screenshot(path=str(shots / "user.png"), full_page=True)

        page.fill("#who", "7")  # the typed-user form
        page.click("header form:first-of-type button")
        page.wait_for_selector("#recommendations")
        assert page.locator("h1").inner_text() == "User 7"
        page.fill("input[name=k]", "3")
        page.click("#options button")
        page.wait_for_selector("#recommendations")
        assert page.locator("tr.rec").count() == 3

        page.locator("tr.rec a").first.click()  # an item: its SID trie path and interests
        page.wait_for_selector("#trie")
        assert page.locator("#trie .step").count() >= 3
        assert "items under this prefix" in page.locator("#trie").inner_text() or "item under" in page.locator("#trie").inner_text()
        page.screenshot(path=str(shots / "item.png"), full_page=True)

        page.goto(server + "/ui/users/999999")  # a bad id: a page that says so, not a traceback
        assert "no user 999999" in page.locator("#message").inner_text()
        browser.close()
    assert (shots / "user.png").stat().st_size > 10_000


def test_a_tiger_sft_run_serves_the_rankings_it_was_evaluated_with(office, office_sid, tmp_path):
    """Any backbone: an encoder-decoder (TIGER) run folder, loaded as the server loads it."""
    from deepinterest.config import ServeConfig
    from deepinterest.serving.engine import ServedRun

    run = tmp_path / "tiger"
    tiny = ["sft.d_model=32", "sft.layers=1", "sft.heads=2", "sft.d_kv=16", "sft.d_ff=64", "sft.batch_size=512",
            "sft.valid_limit=100", "sft.backbone=tiger"]
    result = CliRunner().invoke(app, ["sft", "--data", str(office), "--sid", str(office_sid), "--out", str(run),
                                      "--epochs", "1", "--device", "cpu", *(a for o in tiny for a in ("--set", o))])
    assert result.exit_code == 0, result.output
    served = ServedRun(run, ServeConfig(threads=1))
    assert served.explainer is None and served.explain([1], [2])[0]["weak"]
    data = PreparedDataset(office)
    examples = data.examples("test")
    rows = {r["user"]: r["ranked"] for r in map(json.loads, (run / "rankings.jsonl").read_text().splitlines())}
    picked = range(0, 4905, 613)
    ranked = served.rank([examples.histories[p] for p in picked])
    for position, items in zip(picked, ranked):
        assert [data.item_ids[i] for i, _ in items] == rows[data.user_ids[int(examples.users[position])]]
