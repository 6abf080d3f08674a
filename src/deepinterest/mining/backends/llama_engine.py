"""Continuous batching over one llama.cpp context: many prompts decode together, sharing one prompt prefix.

Why not `Llama.create_chat_completion`: on 2 CPU cores it decodes one sequence at a time (SmolLM2-135M:
118 tokens/s), and its grammar sampler scores the whole vocabulary at every step (Gemma-3: 262k
tokens, about 50 ms a token). Here up to `parallel` sequences share each decode (about 2x the tokens
per second), the few-shot prefix that every mining prompt starts with is evaluated once and copied
into each sequence, and the grammar checks only the greedy token, scoring the whole vocabulary only
when that token is refused (llama.cpp's own "resample" trick). benchmarks/mining_engine.py measures it.

One worker thread owns the context (llama.cpp is not thread-safe); callers wait on futures.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
from collections import deque
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPEAT_WINDOW = 64  # tokens the repeat penalty looks back over, as llama.cpp's default


class EngineError(RuntimeError):
    """A request the engine cannot serve (too long for the context, grammar dead end)."""


@dataclass
class _Request:
    tokens: list[int]
    shared: int  # leading tokens that other requests of the same kind share
    grammar: str | None
    max_tokens: int
    temperature: float
    seed: int
    future: Future
    started: float = field(default_factory=time.perf_counter)


@dataclass
class _Slot:
    seq: int
    request: _Request | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to evaluate
    position: int = 0
    generated: list[int] = field(default_factory=list)
    sampler: object = None  # the request's grammar sampler
    rng: np.random.Generator | None = None
    reserved: int = 0  # KV cells held for this request
    logits_row: int = -1  # batch row holding this slot's next-token logits


class LlamaEngine:
    def __init__(self, path: Path, *, parallel: int = 8, n_ctx: int = 8192, threads: int | None = None,
                 repeat_penalty: float = 1.1, n_batch: int = 1024):
        import llama_cpp as L
        from llama_cpp import llama_chat_format

        # llama.cpp's load-time warnings (every GGUF has a few) would drown the progress bar: errors only.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)

        self.L, self.parallel, self.n_ctx, self.repeat_penalty = L, parallel, n_ctx, repeat_penalty
        self.n_batch = n_batch
        # A vocab-only Llama gives the tokenizer, the chat template and the special tokens.
        self.vocab_llm = L.Llama(model_path=str(path), vocab_only=True, verbose=False)
        meta = self.vocab_llm.metadata
        eos, bos = self.vocab_llm.token_eos(), self.vocab_llm.token_bos()
        text = self.vocab_llm._model.token_get_text
        self.formatter = llama_chat_format.Jinja2ChatFormatter(
            template=meta.get("tokenizer.chat_template") or PLAIN_FEW_SHOT, eos_token=text(eos) if eos != -1 else "",
            bos_token=text(bos) if bos != -1 else "", stop_token_ids=[eos])

        L.llama_backend_init()
        self.model = L.llama_model_load_from_file(str(path).encode(), L.llama_model_default_params())
        if not self.model:
            raise EngineError(f"llama.cpp could not load {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        params = L.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, min(n_batch, 512)
        params.n_seq_max = parallel + 1  # the last sequence holds the shared prefix
        params.kv_unified = True  # one cache, so a copied prefix is stored once
        params.swa_full = True  # sliding-window layers (Gemma-3) keep the prefix positions that copies need
        # llama.cpp's own default is 4 threads, which over-subscribes a 2-core machine.
        params.n_threads = params.n_threads_batch = threads or _usable_cpus()
        self.ctx = L.llama_init_from_model(self.model, params)
        if not self.ctx:
            L.llama_model_free(self.model)
            self.vocab_llm.close()
            raise EngineError("llama.cpp could not create a context (n_ctx too large for memory?)")
        self.memory = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(n_batch, 0, 1)
        self.prefix_seq, self.prefix_tokens = parallel, []
        self.slots = [_Slot(seq=i) for i in range(parallel)]
        self.requests: queue.Queue[_Request | None] = queue.Queue()
        self.waiting: deque[_Request] = deque()
        self.worker = threading.Thread(target=self._run, name="llama-engine", daemon=True)
        self.closed, self.submit_lock = False, threading.Lock()
        self.worker.start()

    # ---- public -------------------------------------------------------------------------------------
    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        rendered = self.formatter(messages=messages)
        return self.vocab_llm.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True)

    def submit(self, messages: list[dict], *, grammar: str | None, max_tokens: int, temperature: float = 0.0,
               seed: int = 42) -> Future:
        """A future of (text, prompt_tokens, completion_tokens)."""
        if self.closed or not self.worker.is_alive():
            raise EngineError("engine closed")
        future: Future = Future()
        tokens = self.prompt_tokens(messages)
        # The conversation before the last message (system prompt, few-shot turns) is what prompts of one
        # kind share: it is evaluated once, and every request's own part is always evaluated the same way.
        shared = _common_prefix(self.prompt_tokens(messages[:-1]), tokens) if len(messages) > 1 else 0
        if len(tokens) + max_tokens + 1 > self.n_ctx:
            future.set_exception(EngineError(f"prompt of {len(tokens)} tokens + max_tokens {max_tokens} does not fit "
                                             f"the context ({self.n_ctx}); raise n_ctx"))
            return future
        with self.submit_lock:  # never queued behind close()'s stop sign
            if self.closed:
                raise EngineError("engine closed")
            self.requests.put(_Request(tokens, min(shared, len(tokens) - 1), grammar, max_tokens, temperature, seed, future))
        return future

    def close(self) -> None:
        with self.submit_lock:
            if self.closed:
                return
            self.closed = True
            self.requests.put(None)
        self.worker.join()
        L = self.L
        for slot in self.slots:
            self._free_sampler(slot)
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)
        L.llama_model_free(self.model)
        self.vocab_llm.close()

    # ---- worker -------------------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while True:
            try:
                busy = any(s.request for s in self.slots)
                if stopping and not busy and not self.waiting:
                    return
                stopping = self._admit(block=not busy and not stopping) or stopping
                if any(s.request for s in self.slots):
                    self._step()
            except Exception as error:  # noqa: BLE001 - a failed decode fails the requests in it, not the worker
                for slot in self.slots:
                    if slot.request:
                        self._finish(slot, error=EngineError(str(error)))

    def _admit(self, block: bool) -> bool:
        """Moves waiting requests into free slots while the cache has room; True once close() was asked."""
        stopping = False
        while True:  # drain the queue into the waiting line (blocking only when there is nothing to do)
            try:
                request = self.requests.get(block=block and not self.waiting)
            except queue.Empty:
                break
            if request is None:
                stopping = True
                break
            if request.future.set_running_or_notify_cancel():  # a cancelled caller's request is dropped
                self.waiting.append(request)
            block = False
        while self.waiting and any(s.request is None for s in self.slots):
            request, busy = self.waiting[0], any(s.request for s in self.slots)
            head = request.tokens[:request.shared]
            if head != self.prefix_tokens and busy:
                break  # a new kind of prompt: the running ones finish first, then its head becomes the prefix
            used = sum(s.reserved for s in self.slots) + len(self.prefix_tokens)
            if used + len(request.tokens) + request.max_tokens > self.n_ctx and busy:
                break  # the cache is full: it waits for a slot to finish
            self.waiting.popleft()
            slot = next(s for s in self.slots if s.request is None)
            try:
                self._start(slot, request)
            except Exception as error:  # noqa: BLE001 - e.g. the prefix does not decode: this request fails
                slot.request = slot.request or request
                self._finish(slot, error=EngineError(str(error)))
        return stopping

    def _start(self, slot: _Slot, request: _Request) -> None:
        L = self.L
        head = request.tokens[:request.shared]
        if head != self.prefix_tokens:  # only when no slot is busy (see _admit)
            self._set_prefix(head)
        # The whole prefix or nothing: a partial copy could lose positions a sliding-window cache evicted.
        shared = len(head)
        L.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
        if shared:
            L.llama_memory_seq_cp(self.memory, self.prefix_seq, slot.seq, 0, shared)
        slot.request, slot.pending, slot.position = request, request.tokens[shared:], shared
        slot.generated, slot.logits_row = [], -1
        slot.reserved = len(request.tokens) - shared + request.max_tokens
        slot.rng = np.random.default_rng(request.seed) if request.temperature > 0 else None
        slot.sampler = None
        if request.grammar:
            slot.sampler = L.llama_sampler_init_grammar(self.vocab, request.grammar.encode(), b"root")
            if not slot.sampler:
                self._finish(slot, error=EngineError("llama.cpp refused the grammar"))

    def _set_prefix(self, tokens: list[int]) -> None:
        L = self.L
        L.llama_memory_seq_rm(self.memory, self.prefix_seq, -1, -1)
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            self._fill([(token, start + i, self.prefix_seq, False) for i, token in enumerate(chunk)])
            self._decode()
        self.prefix_tokens = list(tokens)

    def _step(self) -> None:
        """One decode: a token for every generating slot, plus prompt chunks of newly admitted ones."""
        rows, room = [], self.n_batch
        for slot in self.slots:
            if slot.request and not slot.pending and slot.generated:
                rows.append((slot.generated[-1], slot.position, slot.seq, True))
                slot.logits_row, slot.position, room = len(rows) - 1, slot.position + 1, room - 1
        for slot in self.slots:
            if slot.request and slot.pending and room > 0:
                chunk, slot.pending = slot.pending[:room], slot.pending[room:]
                for i, token in enumerate(chunk):
                    last = not slot.pending and i == len(chunk) - 1
                    rows.append((token, slot.position + i, slot.seq, last))
                slot.position += len(chunk)
                slot.logits_row = len(rows) - 1 if not slot.pending else -1
                room -= len(chunk)
        self._fill(rows)
        self._decode()
        for slot in self.slots:
            if slot.request and not slot.pending and slot.logits_row >= 0:
                self._sample(slot)

    def _sample(self, slot: _Slot) -> None:
        L, request = self.L, slot.request
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(self.ctx, slot.logits_row), shape=(self.n_vocab,)).copy()
        if self.repeat_penalty != 1.0 and slot.generated:
            recent = np.unique(np.asarray(slot.generated[-REPEAT_WINDOW:]))
            values = logits[recent]
            logits[recent] = np.where(values > 0, values / self.repeat_penalty, values * self.repeat_penalty)
        token = self._choose(slot, logits)
        if token is None or token < 0:
            return self._finish(slot, error=EngineError("no token satisfies the grammar"))
        if slot.sampler:
            L.llama_sampler_accept(slot.sampler, token)
        if L.llama_vocab_is_eog(self.vocab, token):
            return self._finish(slot)
        slot.generated.append(int(token))
        if len(slot.generated) >= request.max_tokens:
            self._finish(slot)

    def _choose(self, slot: _Slot, logits: np.ndarray) -> int | None:
        token = self._pick(slot, logits)
        if slot.sampler is None or self._grammar_allows(slot.sampler, [token], logits)[0]:
            return token
        allowed = self._grammar_allows(slot.sampler, range(self.n_vocab), logits)
        if not allowed.any():
            return None
        return self._pick(slot, np.where(allowed, logits, -np.inf))

    def _pick(self, slot: _Slot, logits: np.ndarray) -> int:
        if slot.rng is None:
            return int(np.argmax(logits))
        scaled = (logits - logits.max()) / slot.request.temperature
        probs = np.exp(scaled)
        return int(slot.rng.choice(len(probs), p=probs / probs.sum()))

    def _grammar_allows(self, sampler, tokens, logits: np.ndarray) -> np.ndarray:
        L = self.L
        ids = np.fromiter(tokens, dtype=np.int32)
        data = (L.llama_token_data * len(ids))()
        view = np.ctypeslib.as_array(data).view(np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
        view["id"], view["logit"], view["p"] = ids, np.maximum(logits[ids], -1e30), 0.0
        array = L.llama_token_data_array(data=data, size=len(ids), selected=-1, sorted=False)
        L.llama_sampler_apply(sampler, ctypes.byref(array))
        return np.isfinite(view["logit"])

    def _finish(self, slot: _Slot, error: Exception | None = None) -> None:
        request = slot.request
        text = "" if error else self._detokenize(slot.generated)
        self.L.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
        self._free_sampler(slot)
        slot.request, slot.pending, slot.reserved, slot.logits_row = None, [], 0, -1
        _resolve(request.future, error=error, result=(text, len(request.tokens), len(slot.generated)))

    def _free_sampler(self, slot: _Slot) -> None:
        if slot.sampler:
            self.L.llama_sampler_free(slot.sampler)
            slot.sampler = None

    def _detokenize(self, tokens: list[int]) -> str:
        return self.vocab_llm.detokenize(tokens).decode("utf-8", errors="replace")

    def _fill(self, rows: list[tuple[int, int, int, bool]]) -> None:
        batch = self.batch
        batch.n_tokens = len(rows)
        for i, (token, position, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, position, 1, logits
            batch.seq_id[i][0] = seq

    def _decode(self) -> None:
        status = self.L.llama_decode(self.ctx, self.batch)
        if status != 0:
            raise EngineError(f"llama_decode returned {status} (context full?)")


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _resolve(future: Future, *, error: Exception | None = None, result=None) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    mismatch = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(mismatch[0]) if len(mismatch) else n


# For a GGUF without a chat template (a base model such as Gemma-3-270M): plain few-shot text, the
# form base models continue best (ChatML markers, unknown to their tokenizer, make them copy the examples).
PLAIN_FEW_SHOT = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
                  "{% elif message['role'] == 'user' %}Input:\n{{ message['content'] }}\n"
                  "{% else %}Output: {{ message['content'] }}\n\n{% endif %}{% endfor %}"
                  "{% if add_generation_prompt %}Output:{% endif %}")
