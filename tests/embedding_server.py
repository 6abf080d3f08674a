"""A real OpenAI-compatible `/v1/embeddings` HTTP server on localhost, for the HTTP backend's tests.

It answers with vectors from a function of the texts (the real sentence-transformers model in the
tests), can fail the first requests with 503 to exercise retries, and counts requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EmbeddingServer:
    def __init__(self, vectors_for: Callable[[list[str]], list[list[float]]], fail_first: int = 0):
        self.vectors_for, self.fail_first, self.requests = vectors_for, fail_first, 0
        self.authorization: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                server.requests += 1
                server.authorization.append(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": "not found"})
                if server.requests <= server.fail_first:
                    return self._send(503, {"error": "busy"})
                vectors = server.vectors_for(body["input"])
                data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
                self._send(200, {"object": "list", "data": data[::-1], "model": body["model"]})  # any order

            def _send(self, status, payload):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EmbeddingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
