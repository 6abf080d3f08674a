"""Ask every backend about every job, concurrently, through the store: finished calls are never repeated.

A job is one prompt for one subject (an item, an item's image, a user). Each backend works through
the jobs with `max_concurrency` calls in flight; local llama.cpp backends take turns (they share the
CPU: running two at once only slows both), remote ones run beside everything else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from deepinterest.config import MiningConfig
from deepinterest.mining.backends.base import Backend, BackendError
from deepinterest.mining.parse import Interest, parse_interests, parse_verdict
from deepinterest.mining.prompts import Prompt
from deepinterest.mining.store import ANSWER_ERROR, CallRecord, MiningStore, call_key


@dataclass(frozen=True)
class Job:
    kind: str  # item, visual, user
    subject: str  # item id, or user id for kind user
    fields: dict


@dataclass
class Tally:
    """One backend's share of a run; `valid` counts calls (cached or new) that gave at least one interest."""

    jobs: int = 0
    calls: int = 0  # asked in this run
    cache_hits: int = 0  # answered by the store
    failed: int = 0  # transport failures (retried on the next run)
    valid: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # wall time of this backend's turn
    keys: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)  # (kind, subject) -> call key

    def summary(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "keys"}
        answered = self.jobs - self.failed
        out["valid_rate"] = round(self.valid / answered, 4) if answered else 0.0
        out["jobs_per_second"] = round(self.calls / self.seconds, 3) if self.seconds else None
        return out


class _Speed(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.2f} items/s" if task.speed else "", style="progress.data.speed")


def answer_settings(backend: Backend) -> dict:
    """The backend settings that change an answer: a new max_tokens asks again, a new timeout does not."""
    config = backend.config
    settings = {"temperature": config.temperature, "max_tokens": config.max_tokens, "seed": config.seed}
    if getattr(backend, "shares_cpu", False):  # a local model: its weights, not only their name
        files = sorted(backend.path.glob("*.safetensors")) if backend.path.is_dir() else [backend.path]
        settings |= {"repeat_penalty": config.repeat_penalty, "file_bytes": sum(f.stat().st_size for f in files)}
    else:
        settings["schema_style"] = config.schema_style
    return settings


def job_key(backend: Backend, prompt: Prompt, job: Job) -> str:
    """The rendered messages, the answer schema and the backend's answer settings decide the answer."""
    text = json.dumps([prompt.render(job.fields), prompt.schema, answer_settings(backend)], ensure_ascii=False)
    return call_key(backend.name, backend.model, prompt.version_tag, text)


async def _ask(backend: Backend, prompt: Prompt, job: Job, key: str, store: MiningStore, config: MiningConfig,
               tally: Tally) -> None:
    record = dict(key=key, backend=backend.name, model=backend.model, prompt_version=prompt.version_tag,
                  item=job.subject, kind=job.kind)
    try:
        completion = await backend.complete(prompt.render(job.fields), prompt.schema)
    except BackendError as error:
        store.put(CallRecord(**record, error=str(error)), [])
        tally.failed += 1
        return
    interests, error = _read_answer(prompt, completion.text, config)
    store.put(CallRecord(**record, raw_text=completion.text, prompt_tokens=completion.prompt_tokens,
                         completion_tokens=completion.completion_tokens, seconds=completion.seconds, error=error),
              interests)
    tally.calls += 1
    tally.valid += bool(interests)
    tally.prompt_tokens += completion.prompt_tokens
    tally.completion_tokens += completion.completion_tokens


def _read_answer(prompt: Prompt, text: str, config: MiningConfig) -> tuple[list[Interest], str | None]:
    """Interests and the error of an unusable answer. A judge's verdict is stored as one interest,
    "keep" or "drop", with the reason as its rationale."""
    if prompt.name == "judge":
        keep, reason = parse_verdict(text)
        if keep is None:
            return [], ANSWER_ERROR + "no verdict"
        return [Interest("keep" if keep else "drop", 1.0, reason)], None
    result = parse_interests(text, max_words=config.max_interest_words, max_chars=config.max_interest_chars,
                             min_confidence=config.min_confidence, generic_phrases=config.generic_phrases)
    return result.interests, None if result.interests else ANSWER_ERROR + (result.error or "every interest was rejected")


async def _backend_turn(backend: Backend, jobs: list[Job], prompts: dict[str, Prompt], store: MiningStore,
                        config: MiningConfig, tally: Tally, bar: Progress, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    keys = [job_key(backend, prompts[job.kind], job) for job in jobs]
    tally.jobs = len(jobs)
    tally.keys = {(job.kind, job.subject): key for job, key in zip(jobs, keys)}
    done = store.done_keys(keys)
    task = bar.add_task(backend.name, total=len(jobs), completed=len(done & set(keys)))
    tally.cache_hits = sum(key in done for key in keys)
    queue: asyncio.Queue = asyncio.Queue()
    for job, key in zip(jobs, keys):
        if key not in done:
            queue.put_nowait((job, key))

    every = max(1, len(jobs) // 50)  # a log file (no terminal) gets about 50 progress lines per backend

    async def worker() -> None:
        while not queue.empty():
            job, key = queue.get_nowait()
            await _ask(backend, prompts[job.kind], job, key, store, config, tally)
            bar.advance(task)
            asked = tally.calls + tally.failed
            if not bar.console.is_terminal and not bar.disable and asked % every == 0:
                rate = asked / max(loop.time() - started, 1e-9)
                bar.console.print(f"{backend.name}: {asked + tally.cache_hits}/{len(jobs)} ({tally.cache_hits} cached), "
                                  f"{rate:.2f} items/s", highlight=False)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.seconds = round(loop.time() - started, 2)
    # Cached answers count toward the valid rate as well: read them back.
    for (_, interests) in store.rows([k for k in keys if k in done]).values():
        tally.valid += bool(interests)


async def run_jobs(jobs: list[Job], backends: list[Backend], prompts: dict[str, Prompt], store: MiningStore,
                   config: MiningConfig, progress: bool = True) -> dict[str, Tally]:
    tallies = {backend.name: Tally() for backend in backends}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Speed(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        async def turn(backend: Backend) -> None:
            # Twice the backend's own bound keeps a batching engine's slots full while answers are parsed.
            await _backend_turn(backend, jobs, prompts, store, config, tallies[backend.name], bar,
                                2 * backend.config.max_concurrency)

        async def local_turns() -> None:
            for backend in backends:
                if getattr(backend, "shares_cpu", False):
                    await turn(backend)

        await asyncio.gather(local_turns(), *(turn(b) for b in backends if not getattr(b, "shares_cpu", False)))
    return tallies
