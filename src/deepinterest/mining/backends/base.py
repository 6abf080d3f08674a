"""One interface for every LLM the miner asks: an async chat completion with an optional JSON schema.

Backends: an OpenAI-compatible HTTP endpoint (vLLM, SGLang, Ollama, llama.cpp's server, hosted APIs),
a local GGUF through llama-cpp-python, and a local Hugging Face checkpoint through transformers. Each is named in the config, and the name is part of every
cached call's key, so several backends (the multi-LLM part) never mix their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Protocol

from deepinterest.config import MiningBackendConfig


class BackendError(RuntimeError):
    """A call that failed after its retries; the miner stores it as a failed call and moves on."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


class LoadOnFirstUse:
    """A local model, loaded at its first call: a run whose answers are all in the store never loads it.
    A failed load is kept and raised again, so the calls waiting on it see one attempt, not one each.
    Not thread-safe: callers serialise the first `get` (one asyncio task or lock)."""

    def __init__(self, load: Callable[[], Any]):
        self._load, self._value, self._error = load, None, None

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> Any:
        if self._value is None:
            if self._error is not None:
                raise self._error
            try:
                self._value = self._load()
            except Exception as error:
                self._error = error
                raise
        return self._value


class Backend(Protocol):
    name: str
    model: str

    async def complete(self, messages: list[dict], schema: dict | None = None) -> Completion: ...

    async def close(self) -> None: ...


def build_backend(config: MiningBackendConfig) -> Backend:
    if config.kind == "openai":
        from deepinterest.mining.backends.openai_http import OpenAIBackend

        return OpenAIBackend(config)
    if config.kind == "llama_cpp":
        from deepinterest.mining.backends.llama_local import LlamaCppBackend

        return LlamaCppBackend(config)
    if config.kind == "transformers":
        from deepinterest.mining.backends.transformers_local import TransformersBackend

        return TransformersBackend(config)
    raise ValueError(f"unknown backend kind {config.kind!r}: openai, llama_cpp, transformers")
