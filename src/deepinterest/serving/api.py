"""The HTTP API (FastAPI): recommendations with their deep-interest explanations, item and user look-ups.

Every error is JSON `{"error": "<field>: <what is wrong>", "field": ...}` with a 4xx status: malformed
JSON, wrong types, unknown ids, empty or over-long histories, k beyond the beam width, bodies over
serve.max_body_bytes (413). The OpenAPI schema is at /openapi.json; the inspection page at /.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from deepinterest import __version__
from deepinterest.serving.pages import add_pages, error_page, is_page
from deepinterest.serving.schemas import (Health, ItemInfo, Problem, RecommendRequest, RecommendResponse,
                                          UserInfo)
from deepinterest.serving.service import BadInput, Service

log = logging.getLogger("deepinterest.serve")
ERRORS = {status: {"model": Problem} for status in (404, 413, 422, 503)}


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before any handler reads it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(self.limit)(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _too_large(self.limit)(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"body: over {limit} bytes (serve.max_body_bytes)", "field": "body"}, status_code=413)


def _problem(error: dict) -> dict:
    if error.get("type") == "json_invalid":  # its loc is a character position, not a field
        reason = (error.get("ctx") or {}).get("error", "")
        return {"field": "body", "message": f"malformed JSON{f' ({reason})' if reason else ''}"}
    return {"field": _field(error.get("loc", ())), "message": error.get("msg", "invalid")}


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")] or ["body"]
    return ".".join(parts)


def create_app(service: Service) -> FastAPI:
    run = service.run

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.batcher.start()
        yield
        await service.batcher.stop()

    app = FastAPI(title="deepinterest", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Generative recommendations over Semantic IDs, explained by the user's deep interests.")
    app.add_middleware(BodyLimit, limit=service.settings.max_body_bytes)
    app.state.service = service

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput):
        if is_page(request):
            return error_page(request, exc.status, str(exc))
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [_problem(e) for e in exc.errors()]
        text = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        if is_page(request):
            return error_page(request, 422, text)
        return JSONResponse({"error": text, "field": errors[0]["field"] if errors else None, "errors": errors[:20]},
                            status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if is_page(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"error": str(exc.detail), "field": None}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: logged, answered without a traceback
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})", "field": None}, status_code=500)

    @app.get("/health", response_model=Health, tags=["run"])
    async def health():
        """The run being served: name, model, catalog size, search settings, its metrics, batching counters."""
        return {"status": "ok", "run": run.name, "model": str(run.folders.model), "backbone": run.config.sft.backbone,
                "items": len(run.item_ids), "users": len(run.user_ids), "beams": run.beams, "max_items": run.max_items,
                "max_history": service.settings.max_history, "interests": run.explainer is not None,
                "metrics": run.metrics, "batching": {"max_batch": service.settings.max_batch,
                                                      "max_wait_ms": service.settings.max_wait_ms,
                                                      "searches": service.batcher.batches,
                                                      "requests": service.batcher.requests}}

    async def answer(user: int | None, history: list[int], k: int, exclude_history: bool, explain: bool = True):
        # service.recommend checks k. Built as plain JSON, not validated again through the response model: it is the hot path.
        items = await service.recommend(history, k, exclude_history, explain)
        return JSONResponse({"user": user, "history": [run.brief(i) for i in history], "recommendations": items})

    @app.post("/recommend", response_model=None, responses={200: {"model": RecommendResponse}, **ERRORS}, tags=["recommend"])
    async def recommend(body: RecommendRequest):
        """Top-k items for a known user (their whole sequence is the history) or for an ad-hoc history."""
        user = None
        if body.user is not None or body.raw_user is not None:
            user = service.user_id(body.user) if body.user is not None else service.raw_user_id(body.raw_user)
            history = service.user_history(user)
        else:
            history = service.history(body.items, body.raw_items)
        return await answer(user, history, body.k, body.exclude_history, body.explain)

    def _user(user: int) -> dict:
        info = run.user(user)
        return {**info, "history": [run.brief(i) for i in info["history"]]}

    # The raw-id routes come first, so that "/users/raw/X" is never read as a user named "raw".
    @app.get("/users/raw/{raw_id}", response_model=UserInfo, responses=ERRORS, tags=["look-up"])
    async def user_by_raw_id(raw_id: str):
        return _user(service.raw_user_id(raw_id, status=404))

    @app.get("/items/raw/{raw_id}", response_model=ItemInfo, responses=ERRORS, tags=["look-up"])
    async def item_by_raw_id(raw_id: str):
        return run.item(service.raw_item_id(raw_id, status=404))

    @app.get("/users/{user}/recommendations", response_model=None, responses={200: {"model": RecommendResponse}, **ERRORS},
             tags=["recommend"])
    async def user_recommendations(user: int, k: int = Query(10, ge=1), exclude_history: bool = False):
        """The same as POST /recommend with {"user": USER}, for a quick look from a browser or curl."""
        user = service.user_id(user, status=404)
        return await answer(user, service.user_history(user), k, exclude_history)

    @app.get("/users/{user}", response_model=UserInfo, responses=ERRORS, tags=["look-up"])
    async def user_info(user: int):
        return _user(service.user_id(user, status=404))

    @app.get("/items/{item}", response_model=ItemInfo, responses=ERRORS, tags=["look-up"])
    async def item_info(item: int):
        """An item's text, SID and its path through the SID trie, its mined interests (RLDI-kept or not) and q_i."""
        return run.item(service.item_id(item, status=404))

    add_pages(app, service)
    return app
