"""`deepinterest serve` in a child process on a free local port, for scripts, benchmarks and tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(run: Path, *overrides: str, log: Path | None = None, timeout_s: float = 180.0,
            env: dict[str, str] | None = None) -> Iterator[str]:
    """The base URL of `deepinterest serve RUN --set serve.KEY=VALUE ...` on 127.0.0.1, until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "deepinterest", "serve", str(run), "--port", str(port),
               *(a for o in overrides for a in ("--set", o))]
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"deepinterest serve exited with {process.returncode}" + (f"; see {log}" if log else ""))
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"deepinterest serve did not answer within {timeout_s} s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            output.close()
