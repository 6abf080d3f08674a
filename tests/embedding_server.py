"""A real OpenAI-compatible `/v1/embeddings` HTTP server on localhost, for the HTTP backend's tests.

It answers with vectors from a function of the texts (the real sentence-transformers model in the
tests), can fail the first requests with 503 to exercise retries, and counts requests.
"""

from __future__ import annotations

from collections.abc import Callable

from local_http import JSONHandler, LocalServer


class EmbeddingServer(LocalServer):
    def __init__(self, vectors_for: Callable[[list[str]], list[list[float]]], fail_first: int = 0):
        self.vectors_for, self.fail_first, self.requests = vectors_for, fail_first, 0
        self.authorization: list[str | None] = []
        server = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                server.requests += 1
                server.authorization.append(self.headers.get("Authorization"))
                body = self.read_json()
                if self.path != "/v1/embeddings":
                    return self.send_json(404, {"error": "not found"})
                if server.requests <= server.fail_first:
                    return self.send_json(503, {"error": "busy"})
                vectors = server.vectors_for(body["input"])
                data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
                self.send_json(200, {"object": "list", "data": data[::-1], "model": body["model"]})  # any order

        super().__init__(Handler)
