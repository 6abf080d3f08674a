"""Load test of `deepinterest serve`: requests per second and latency, micro-batching on against off.

    .venv/bin/python benchmarks/serve_load.py --run runs/office-decoder --out benchmarks/results/serve_load.json

Starts the real server twice on a free 127.0.0.1 port (serve.max_batch 32, then 1 = batching off, same
run, same torch threads) and sends POST /recommend {"user": U, "k": 10} for users drawn with a fixed
seed, at each concurrency (closed loop: C clients, each sends its next request when the last returns).
Every level stops by itself after --requests requests or --seconds seconds, whichever comes first.
Nothing leaves the loopback interface. The client shares the machine with the server: on 2 cores, the
figures are for both together, and the ratio of the two settings is the number to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
from inputs import TRAINED_RUN

from deepinterest.data.io import write_json
from deepinterest.serving.launch import serving


async def level(url: str, users: list[int], concurrency: int, requests: int, seconds: float, k: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            user = users[sent % len(users)]
            sent += 1
            start = time.perf_counter()
            async with http.post(f"{url}/recommend", json={"user": user, "k": k}) as response:
                await response.read()
            latencies.append(time.perf_counter() - start)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    # aiohttp, not httpx, for the clients: the load generator shares the 2 cores with the server, so it must be light.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(f"{url}/recommend", json={"user": users[0], "k": k}) as warm:  # warm-up, not counted
            await warm.read()
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        async with http.get(f"{url}/health") as response:
            health = await response.json()
    ms = np.array(latencies) * 1000
    return {"concurrency": concurrency, "requests": len(latencies), "seconds": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 2), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1), "statuses": statuses,
            "searches_so_far": health["batching"]["searches"], "requests_so_far": health["batching"]["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=TRAINED_RUN, required=True, help="a trained run folder (deepinterest run, sft or rl)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="requests per level at most")
    parser.add_argument("--seconds", type=float, default=60, help="seconds per level at most")
    parser.add_argument("--max-batch", type=int, default=32, help="serve.max_batch of the batching-on server")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n_users = None
    results = {}
    for name, max_batch in (("batching_on", args.max_batch), ("batching_off", 1)):
        with serving(args.run, f"serve.max_batch={max_batch}", f"serve.threads={args.threads}") as url:
            if n_users is None:
                n_users = httpx.get(f"{url}/health").json()["users"]
            users = random.Random(args.seed).sample(range(n_users), min(n_users, args.requests))
            results[name] = [asyncio.run(level(url, users, c, args.requests, args.seconds, args.k)) for c in args.concurrency]
            for row in results[name]:
                print(name, json.dumps(row), flush=True)
    ratios = {f"c{on['concurrency']}": round(on["requests_per_s"] / off["requests_per_s"], 2)
              for on, off in zip(results["batching_on"], results["batching_off"])}
    write_json(args.out, {"benchmark": "serve_load", "run": str(args.run), "k": args.k, "threads": args.threads,
                          "max_batch": args.max_batch, "levels": results, "throughput_ratio_on_over_off": ratios,
                          "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                      "load_average": os.getloadavg()}})
    print("requests/s, batching on over off:", ratios)


if __name__ == "__main__":
    main()
