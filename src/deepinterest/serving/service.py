"""What the API and the page share: id resolution with field-named errors, and micro-batched recommendation."""

from __future__ import annotations

import asyncio

from deepinterest.config import ServeConfig
from deepinterest.serving.batching import MicroBatcher
from deepinterest.serving.engine import ServedRun


class BadInput(Exception):
    """A request the server understood but cannot serve; `field` names what to fix."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


class Service:
    def __init__(self, run: ServedRun, settings: ServeConfig):
        self.run, self.settings = run, settings
        self.batcher = MicroBatcher(run.rank, settings.max_batch, settings.max_wait_ms)

    # --- ids ------------------------------------------------------------------------------

    @staticmethod
    def _dataset_id(value: int, ids: list[str], kind: str, field: str, status: int) -> int:
        if not 0 <= value < len(ids):
            raise BadInput(field, f"no {kind} {value} (dataset ids are 0..{len(ids) - 1})", status)
        return value

    @staticmethod
    def _raw_id(value: str, index: dict[str, int], kind: str, field: str, status: int) -> int:
        if value not in index:
            raise BadInput(field, f"no {kind} with raw id {value[:80]!r}", status)
        return index[value]

    def item_id(self, value: int, field: str = "item", status: int = 422) -> int:
        return self._dataset_id(value, self.run.item_ids, "item", field, status)

    def raw_item_id(self, value: str, field: str = "raw_item", status: int = 422) -> int:
        return self._raw_id(value, self.run.item_index, "item", field, status)

    def user_id(self, value: int, field: str = "user", status: int = 422) -> int:
        return self._dataset_id(value, self.run.user_ids, "user", field, status)

    def raw_user_id(self, value: str, field: str = "raw_user", status: int = 422) -> int:
        return self._raw_id(value, self.run.user_index, "user", field, status)

    def user_history(self, user: int) -> list[int]:
        """A known user's history: their whole sequence, its last serve.max_history items."""
        return self.run.sequences[user][-self.settings.max_history:]

    def history(self, items: list[int] | None = None, raw_items: list[str] | None = None) -> list[int]:
        field, values = ("items", items) if items is not None else ("raw_items", raw_items)
        if not values:
            raise BadInput(field, "the history is empty")
        if len(values) > self.settings.max_history:
            raise BadInput(field, f"{len(values)} items; at most {self.settings.max_history} (serve.max_history)")
        resolve = self.item_id if items is not None else self.raw_item_id
        return [resolve(v, f"{field}.{i}") for i, v in enumerate(values)]

    def check_k(self, k: int) -> int:
        if not 1 <= k <= self.run.beams:
            raise BadInput("k", f"{k} is out of range: 1..{self.run.beams} (the run's beam width, sft.beams)")
        return k

    # --- recommendation ---------------------------------------------------------------------

    async def recommend(self, history: list[int], k: int, exclude_history: bool = False, explain: bool = True) -> list[dict]:
        self.check_k(k)
        try:
            ranked = await asyncio.wait_for(self.batcher.submit(history), self.settings.request_timeout_s)
        except TimeoutError:
            raise BadInput("request", f"no answer within {self.settings.request_timeout_s} s (serve.request_timeout_s); "
                                      "the server is overloaded", 503) from None
        seen = set(history) if exclude_history else set()
        top = [(item, score) for item, score in ranked if item not in seen][:k]
        why = self.run.explain(history, [item for item, _ in top]) if explain else [None] * len(top)
        return [{"rank": rank, **self.run.brief(item), "score": round(score, 5), "explanation": reason}
                for rank, ((item, score), reason) in enumerate(zip(top, why), 1)]
