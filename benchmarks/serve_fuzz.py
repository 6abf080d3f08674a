"""Fuzz `deepinterest serve` with malformed requests: never a 5xx, never a hang, the same answers afterwards.

    .venv/bin/python benchmarks/serve_fuzz.py --run runs/office-decoder --out benchmarks/results/serve_fuzz.json

Starts the real server on a free 127.0.0.1 port and sends --requests generated requests (seeded): broken
JSON, wrong types, unknown, negative, huge and non-integer ids, empty and over-long histories, huge k,
unknown fields, odd content types, bodies over the size cap, odd paths and methods, page URLs with bad
parameters. Every answer must come within --timeout seconds with a status below 500. Before and after,
a valid request must give the same recommendations. Exit 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
from inputs import TRAINED_RUN

from deepinterest.data.io import write_json
from deepinterest.serving.launch import serving

PROBE = {"user": 0, "k": 5}


def odd_value(rng: random.Random, depth: int = 0):
    """Any JSON value a careless or hostile client might send."""
    choices = [lambda: None, lambda: rng.choice([True, False]), lambda: rng.randint(-10**30, 10**30),
               lambda: rng.randint(-3, 30000), lambda: rng.uniform(-1e6, 1e6), lambda: rng.choice([1.5, -0.0, 1e308, 3.0]),
               lambda: "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 40))),
               lambda: rng.choice(["", "0", "12", "-1", "NaN", "Infinity", "1e3", "\u00e9\u4e2d\U0001f600", "A" * 300]),
               lambda: str(rng.randint(0, 3000))]
    if depth < 2:
        choices += [lambda: [odd_value(rng, depth + 1) for _ in range(rng.randint(0, 6))],
                    lambda: {rng.choice(["user", "items", "k", "x", ""]): odd_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}]
    return rng.choice(choices)()


def recommend_body(rng: random.Random) -> dict:
    fields = ["user", "raw_user", "items", "raw_items", "k", "exclude_history", "explain", "extra", "USER"]
    body = {name: odd_value(rng) for name in rng.sample(fields, rng.randint(0, 4))}
    shape = rng.random()
    if shape < 0.15:
        body["items"] = [rng.randint(0, 3000) for _ in range(rng.randint(0, 400))]  # empty, unknown or too long
    elif shape < 0.3:
        body["k"] = rng.choice([0, -1, 21, 10**9, 10**40, "10", 2.5, None])
    elif shape < 0.4:
        body["user"] = rng.choice([-1, 10**12, 2**63, 1.0, "1", True, [1]])
    return body


def q(value) -> str:
    return quote(str(value), safe="")


def make_request(rng: random.Random, max_body: int) -> dict:
    kind = rng.randrange(10)
    if kind <= 3:
        return {"method": "POST", "url": "/recommend", "json": recommend_body(rng)}
    if kind == 4:  # bytes that are not JSON, or JSON of the wrong shape, with odd content types
        raw = rng.choice([b"{", b"", b"nul", b"[1,2", b'{"user": 1,}', b"\xff\xfe\x00", b'{"items": [1, 2]' * 3,
                          json.dumps(odd_value(rng)).encode(), bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))])
        kind_of = rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])
        return {"method": "POST", "url": "/recommend", "content": raw, "headers": {"content-type": kind_of}}
    if kind == 5:  # over the body cap
        return {"method": "POST", "url": "/recommend", "content": b'{"items": [' + b"1," * (max_body // 2) + b"1]}",
                "headers": {"content-type": "application/json"}}
    segment = rng.choice(["-1", "0", "1.5", "abc", "99999999", str(10**30), "%00", "%2F", "..", "\u00e9", "raw", " ", "1e3",
                          "".join(rng.choice(string.ascii_letters + string.digits + "-_.~") for _ in range(rng.randint(1, 300)))])
    segment = quote(segment, safe="%.~-_")  # "%00" and "%2F" stay as sent: the server decodes them
    if kind == 6:
        return {"method": "GET", "url": rng.choice(["/items/", "/users/", "/items/raw/", "/users/raw/"]) + segment}
    if kind == 7:
        query = rng.choice([f"k={q(odd_value(rng))}", "k=", "k=999", "exclude_history=maybe", "k=5&k=6"])
        return {"method": "GET", "url": f"/users/{segment}/recommendations?{query}"}
    if kind == 8:
        page = rng.choice([f"/ui/users/{segment}", f"/ui/items/{segment}", f"/ui/find?user={segment}",
                           f"/ui/history?items={segment},{rng.randint(-5, 5000)}&k={q(odd_value(rng))}", "/ui/history?items=",
                           f"/ui/users/1?k={q(odd_value(rng))}&exclude={q(odd_value(rng))}"])
        return {"method": "GET", "url": page}
    return {"method": rng.choice(["PUT", "DELETE", "PATCH", "GET", "OPTIONS"]),
            "url": rng.choice(["/recommend", "/health", "/items/1", "/nothing", "/ui", "/openapi.json"])}


def fuzz(url: str, requests: int, seed: int, timeout: float, max_body: int) -> dict:
    rng = random.Random(seed)
    statuses, failures = Counter(), []
    with httpx.Client(base_url=url, timeout=timeout) as http:
        before = http.post("/recommend", json=PROBE).json()
        started = time.perf_counter()
        for number in range(requests):
            request = make_request(rng, max_body)
            try:
                response = http.request(**request)
            except httpx.HTTPError as exc:  # a hang or a dropped connection
                failures.append({"request": number, "url": request["url"][:120], "error": type(exc).__name__})
                continue
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append({"request": number, "url": request["url"][:120], "status": response.status_code,
                                 "body": response.text[:300]})
        seconds = time.perf_counter() - started
        after = http.post("/recommend", json=PROBE).json()
    same = after == before and len(after.get("recommendations", [])) == PROBE["k"]
    return {"requests": requests, "seconds": round(seconds, 1), "statuses": dict(sorted(statuses.items())),
            "server_errors": sum(n for s, n in statuses.items() if s >= 500), "failures": failures[:20],
            "same_answer_after": same, "ok": not failures and same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=TRAINED_RUN, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--max-body", type=int, default=65536, help="serve.max_body_bytes of the server")
    args = parser.parse_args()
    with serving(args.run, f"serve.max_body_bytes={args.max_body}", "serve.threads=1") as url:
        result = fuzz(url, args.requests, args.seed, args.timeout, args.max_body)
    write_json(args.out, {"benchmark": "serve_fuzz", "run": str(args.run), "seed": args.seed, **result})
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}), result["failures"][:3])
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
