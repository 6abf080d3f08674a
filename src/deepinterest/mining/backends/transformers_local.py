"""A local Hugging Face causal LM (any checkpoint folder; `deepinterest convert-gguf` makes one offline).

Concurrent calls are gathered into one left-padded batch for `generate`. The generation config is
explicit and greedy unless a temperature is set: instruct checkpoints ship `do_sample=True` in theirs.
There is no grammar here: the few-shot examples and the lenient parser carry the JSON answer.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from deepinterest.config import MiningBackendConfig
from deepinterest.config.runtime import resolve_device, use_threads
from deepinterest.mining.backends.base import BackendError, Completion, LoadOnFirstUse


class TransformersBackend:
    shares_cpu = True  # a local model: the miner runs it apart from the other local backends

    def __init__(self, config: MiningBackendConfig):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(config.model).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path}: not a Hugging Face checkpoint folder (no config.json); "
                                    "`deepinterest convert-gguf --out DIR` makes one from the packaged SmolLM2")
        self.config, self.name, self.model, self.path = config, config.name, path.name, path
        self.torch, self.device = torch, resolve_device(config.device)
        # Here, not in load(): that runs in a worker thread.
        use_threads(config.threads, f"mine.backends.<index of {config.name}>.threads")

        def load():
            tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            return tokenizer, AutoModelForCausalLM.from_pretrained(path).to(self.device).eval()

        self._model = LoadOnFirstUse(load)
        self.pending: list[tuple[list[dict], asyncio.Future]] = []
        self.batcher: asyncio.Task | None = None

    def _generate(self, conversations: list[list[dict]]) -> list[tuple[str, int, int]]:
        from transformers import GenerationConfig

        tokenizer, lm = self._model.get()
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = self.config.temperature > 0
        generation = GenerationConfig(max_new_tokens=self.config.max_tokens, do_sample=sample,
                                      temperature=self.config.temperature if sample else None, top_k=None, top_p=None,
                                      repetition_penalty=self.config.repeat_penalty,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        if sample:
            self.torch.manual_seed(self.config.seed)
        with self.torch.no_grad():
            out = lm.generate(**batch, generation_config=generation)
        width = batch["input_ids"].shape[1]
        results = []
        for row, prompt_mask in zip(out, batch["attention_mask"]):
            new = row[width:]
            new = new[new != tokenizer.pad_token_id]
            results.append((tokenizer.decode(new, skip_special_tokens=True), int(prompt_mask.sum()), len(new)))
        return results

    async def _drain(self) -> None:
        """Takes everything waiting (up to max_concurrency) into one generate call, until nothing waits."""
        while self.pending:
            batch, self.pending = self.pending[: self.config.max_concurrency], self.pending[self.config.max_concurrency:]
            try:
                if not self._model.loaded:  # a thread hop only for the load, not for every batch
                    await asyncio.to_thread(self._model.get)
            except Exception as error:  # a checkpoint that cannot load stops the run, as it would have at start
                for _, future in batch + self.pending:
                    if not future.done():
                        future.set_exception(error)
                self.pending = []
                return
            started = time.perf_counter()
            try:
                results = await asyncio.to_thread(self._generate, [messages for messages, _ in batch])
            except Exception as error:  # any failure of this batch fails its calls, never leaves them waiting
                for _, future in batch:
                    if not future.done():
                        future.set_exception(BackendError(f"{self.name}: {error}"))
                continue
            seconds = round(time.perf_counter() - started, 3)
            for (_, future), (text, prompt_tokens, completion_tokens) in zip(batch, results):
                if not future.done():
                    future.set_result(Completion(text, prompt_tokens, completion_tokens, seconds))

    async def complete(self, messages: list[dict], schema: dict | None = None) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((messages, future))
        if self.batcher is None or self.batcher.done():
            await asyncio.sleep(0)  # let the other concurrent calls join this batch
            if self.batcher is None or self.batcher.done():
                self.batcher = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        if self.batcher is not None:
            await asyncio.gather(self.batcher, return_exceptions=True)
