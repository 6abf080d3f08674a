"""OpenAI-compatible chat completions over HTTP: async, bounded concurrency, retries with jitter.

Works with vLLM, SGLang, Ollama, llama.cpp's server and hosted APIs. The key is read from the
environment variable the config names and never logged. A JSON schema goes as `response_format`
(json_schema for servers that take it; llama.cpp's server also reads `schema` in json_object).
"""

from __future__ import annotations

import asyncio
import os
import random
import time

import httpx

from deepinterest.config import MiningBackendConfig
from deepinterest.mining.backends.base import BackendError, Completion

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIBackend:
    def __init__(self, config: MiningBackendConfig):
        if not config.base_url or not config.model:
            raise ValueError(f"backend {config.name!r}: kind openai needs base_url and model")
        self.config, self.name, self.model = config, config.name, config.model
        key = os.environ.get(config.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout)
        self.slots = asyncio.Semaphore(config.max_concurrency)
        self.spacing = 1.0 / config.requests_per_second if config.requests_per_second else 0.0
        self.next_start = 0.0
        self.pace = asyncio.Lock()

    def body(self, messages: list[dict], schema: dict | None) -> dict:
        body = {"model": self.model, "messages": messages, "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens, "seed": self.config.seed}
        if schema is not None and self.config.schema_style == "llama_cpp":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return body

    async def _wait_for_rate_limit(self) -> None:
        if not self.spacing:
            return
        async with self.pace:
            delay = self.next_start - time.monotonic()
            self.next_start = max(self.next_start, time.monotonic()) + self.spacing
        if delay > 0:
            await asyncio.sleep(delay)

    async def complete(self, messages: list[dict], schema: dict | None = None) -> Completion:
        body, last = self.body(messages, schema), "no attempt"
        async with self.slots:
            for attempt in range(self.config.retries + 1):
                if attempt:
                    # Exponential backoff with full jitter: concurrent retries do not arrive together.
                    await asyncio.sleep(random.uniform(0, self.config.backoff * 2 ** (attempt - 1)))
                await self._wait_for_rate_limit()
                started = time.perf_counter()
                try:
                    response = await self.client.post("/chat/completions", json=body)
                except httpx.HTTPError as error:  # timeouts, refused connections
                    last = f"{type(error).__name__}: {error}"
                    continue
                if response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                    continue
                if response.status_code != 200:
                    raise BackendError(f"{self.name}: HTTP {response.status_code}: {response.text[:300]}")
                return parse_response(response.json(), time.perf_counter() - started, self.name)
        raise BackendError(f"{self.name}: gave up after {self.config.retries + 1} attempts ({last})")

    async def close(self) -> None:
        await self.client.aclose()


def parse_response(data: dict, seconds: float, name: str) -> Completion:
    try:
        text = data["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as error:
        raise BackendError(f"{name}: response without choices[0].message.content") from error
    usage = data.get("usage") or {}
    return Completion(text=text, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                      completion_tokens=int(usage.get("completion_tokens", 0)), seconds=round(seconds, 3))
