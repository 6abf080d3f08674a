"""Micro-batching: requests that arrive while the model is busy share its next search.

One worker thread runs the model, so searches never compete for the cores; while it works, new requests
queue up, and the next search takes all of them (up to `max_batch`). A lone request waits at most
`max_wait_ms` for company. Throughput therefore grows with load instead of one search per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class MicroBatcher:
    def __init__(self, work: Callable[[list[Any]], list[Any]], max_batch: int, max_wait_ms: float):
        self.work, self.max_batch, self.max_wait = work, max_batch, max_wait_ms / 1000
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="search")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batches = self.requests = 0

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def submit(self, payload: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((payload, future))
        return await future

    async def _collect(self) -> list[tuple[Any, asyncio.Future]]:
        batch = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return [(payload, future) for payload, future in batch if not future.done()]  # timed-out callers left

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self.executor, self.work, [payload for payload, _ in batch])
            except Exception as exc:  # noqa: BLE001 (every waiting caller gets the error, the loop goes on)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.requests += len(batch)
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
