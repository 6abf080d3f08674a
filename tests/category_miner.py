"""An OpenAI-style endpoint on localhost that mines every item's interests from its own categories.

Pipeline tests need all 2,420 Office items mined in seconds: behaviour labels (RLDI) only exist where
co-bought items carry interests. The real LLMs are tested in test_mining_*.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from local_http import JSONHandler, LocalServer


class CategoryMiner(LocalServer):
    """Interests from the last two category levels and the title's first word, as an LLM's JSON answer."""

    def __init__(self):
        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                prompt = self.read_json()["messages"][-1]["content"]
                found = re.search(r"Categories: (.*)", prompt)
                levels = [c.strip().lower() for c in (found.group(1) if found else "").split(",") if c.strip()]
                title = re.search(r"Title: (\S+)", prompt)
                phrases = [f"{level} shopping" for level in levels[-2:]] + ([f"{title.group(1).lower()} fan"] if title else [])
                answer = {"analysis": "from the categories",
                          "interests": [{"interest": p, "confidence": 0.9 - 0.1 * i, "rationale": "category"}
                                        for i, p in enumerate(phrases)]}
                self.send_json(200, {"choices": [{"message": {"role": "assistant", "content": json.dumps(answer)}}],
                                     "usage": {"prompt_tokens": 100, "completion_tokens": 20}})

        super().__init__(Handler)


def office_pipeline(name: str, store: Path, miner_url: str, sft: dict, explain: int) -> dict:
    """A `deepinterest run` config on Office mined by this endpoint: behaviour labels, small RQ-KMeans SIDs."""
    return {"name": name, "data": {"source": "office"},
            "mine": {"store": str(store), "backends": [
                {"name": "categories", "kind": "openai", "base_url": miner_url, "model": "m", "max_concurrency": 16}]},
            "label": {"sources": ["behaviour"]},
            "tokenizer": {"method": "rqkmeans", "codebook_size": 64},
            "sft": sft, "pipeline": {"explain": explain}}
