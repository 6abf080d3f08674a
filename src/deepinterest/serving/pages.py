"""The inspection page: server-rendered HTML (Jinja2, no build step, nothing fetched at run time).

A person picks or types a user (or a history of item ids), sees the history with titles, the top-k with
scores, SIDs and deep-interest explanations, and follows links to any item's SID trie path and interests.
"""

from __future__ import annotations

import math
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from deepinterest.serving.service import BadInput, Service

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
METRIC_KEYS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")
SAMPLE_USERS = 24


def is_page(request: Request) -> bool:
    return request.url.path == "/" or request.url.path.startswith("/ui/")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "error.html", {"run_name": _name(request), "status": status, "message": message},
                                      status_code=status)


def _name(request: Request) -> str:
    return request.app.state.service.run.name


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _k(service: Service, text: str | None) -> int:
    """The page's `k`: 10 (at most the beam width) when absent, else a whole number in range."""
    if text is None:
        return min(10, service.run.beams)
    value = _int_or_none(text)
    if value is None:
        raise BadInput("k", f"{text[:20]!r} is not a whole number")
    return service.check_k(value)


def add_pages(app: FastAPI, service: Service) -> None:
    run = service.run

    def render(request: Request, template: str, **context) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, template, {"run_name": run.name, **context})

    async def recommendations(request: Request, heading: str, history: list[int], raw_id: str | None, keep: dict):
        k = _k(service, request.query_params.get("k"))
        exclude = request.query_params.get("exclude") == "1"
        recs = await service.recommend(history, k, exclude)
        for rec in recs:
            rec["probability"] = math.exp(rec["score"])
        return render(request, "recommendations.html", heading=heading, raw_id=raw_id, keep=keep, k=k, exclude=exclude,
                      beams=run.beams, max_items=run.max_items, history=[run.brief(i) for i in history],
                      recommendations=recs)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request):
        step = max(1, len(run.user_ids) // SAMPLE_USERS)
        sample = [{"user": u, "length": len(run.sequences[u]), "last": run.titles[run.sequences[u][-1]][:50]}
                  for u in range(0, len(run.user_ids), step)][:SAMPLE_USERS]
        return render(request, "index.html", model=str(run.folders.model), backbone=run.config.sft.backbone, beams=run.beams,
                      max_items=run.max_items, items=len(run.item_ids), users=len(run.user_ids),
                      interests=run.explainer is not None, metrics=run.metrics, metric_keys=METRIC_KEYS, sample=sample)

    @app.get("/ui/find", include_in_schema=False)
    async def find(user: str = ""):
        """A typed user: a dataset id when it is a number in range, else the source's raw id."""
        number = _int_or_none(user)
        if number is not None and number < len(run.user_ids):
            index = number
        elif user.strip() in run.user_index:
            index = run.user_index[user.strip()]
        else:
            raise BadInput("user", f"no user {user.strip()[:80]!r} (by dataset id or raw id)", 404)
        return RedirectResponse(f"/ui/users/{index}", status_code=303)

    @app.get("/ui/users/{user}", response_class=HTMLResponse, include_in_schema=False)
    async def user_page(request: Request, user: str):
        number = _int_or_none(user)
        if number is None:
            raise BadInput("user", f"{user[:40]!r} is not a dataset user id", 404)
        index = service.user_id(number, status=404)
        return await recommendations(request, f"User {index}", service.user_history(index), run.user_ids[index], {})

    @app.get("/ui/history", response_class=HTMLResponse, include_in_schema=False)
    async def history_page(request: Request, items: str = ""):
        """Item ids separated by commas or spaces: numbers are dataset ids, anything else a raw id."""
        tokens = [t for t in items.replace(",", " ").split() if t]
        if len(tokens) > service.settings.max_history:
            raise BadInput("items", f"{len(tokens)} items; at most {service.settings.max_history} (serve.max_history)")
        history = [service.item_id(n, f"items.{i}") if (n := _int_or_none(t)) is not None else service.raw_item_id(t, f"items.{i}")
                   for i, t in enumerate(tokens)]
        if not history:
            raise BadInput("items", "the history is empty")
        return await recommendations(request, f"A history of {len(history)} items", history, None, {"items": items})

    @app.get("/ui/items/{item}", response_class=HTMLResponse, include_in_schema=False)
    async def item_page(request: Request, item: str):
        number = _int_or_none(item)
        if number is None:
            raise BadInput("item", f"{item[:40]!r} is not a dataset item id", 404)
        info = run.item(service.item_id(number, status=404))
        return render(request, "item.html", item=info, siblings=[run.brief(i) for i in info["siblings"]])
