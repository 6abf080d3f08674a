"""Where an `items` epoch goes: the same epoch timed with parts of the recipe switched off, in one run.

    .venv/bin/python benchmarks/items_step_variants.py --data runs/office/data \\
        --config configs/items-office-distill.yaml --out benchmarks/results/items_step_variants.json

One epoch of the config's model and training step (the project's own windows,
collate, length buckets and fused AdamW) over the dataset's real training sequences, at one thread.
SIDs and soft targets are random stand-ins of the real shapes (3 levels of 256 plus a suffix level, 16
teacher tokens a level): what is timed does not depend on their values. Variants alternate round by round
so a noisy neighbour hits them alike; each figure is the median epoch, and `vs_base` the ratio to the
recipe as it is. `sft_speed.py` gives the recipe's epoch against SASRec's; this says what would change it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from functools import partial

import numpy as np
import torch
from inputs import PREPARED_DATA, existing_file
from torch.utils.data import DataLoader

from deepinterest.config import SFTConfig, load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_json
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.model.item_decoder import build_item_decoder
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.distill import TOP
from deepinterest.training.optim import adamw
from deepinterest.training.streams import LengthBuckets, collate_items, item_examples

VARIANTS = {
    "base": "the recipe as it is",
    "attn0": "no dropout on attention weights (the hidden dropouts kept)",
    "nodrop": "no dropout anywhere (the dropout masks' whole cost)",
    "eager": "transformers' forward with its eager attention (compare with library_body: SDPA)",
    "library_body": "transformers' GPTNeoXModel.forward instead of model/neox_causal.py (same weights and numbers)",
    "b24": "24 windows a batch instead of 16 (fewer, larger steps)",
    "b32": "32 windows a batch",
}


def stand_in_soft_targets(sequences: list[list[int]], vocab: SIDVocabulary, rng: np.random.Generator) -> dict:
    catalog, soft = vocab.catalog, {}
    for number, seq in enumerate(sequences):
        for position in range(1, len(seq)):
            levels = []
            for level in range(catalog.max_length):
                width = catalog.codebook_size if level < catalog.levels else catalog.suffix_size
                start = vocab.offset + level * catalog.codebook_size
                tokens = rng.choice(width, size=min(TOP, width), replace=False) + start
                probs = rng.random(len(tokens))
                # zero-mass fillers where a level has fewer than TOP tokens, as training/distill.py pads
                levels.append((np.pad(tokens, (0, TOP - len(tokens)), constant_values=start).tolist(),
                               np.pad(probs / probs.sum(), (0, TOP - len(tokens))).tolist()))
            soft[(number, position)] = levels
    return soft


def build(variant: str, recipe: SFTConfig, vocab: SIDVocabulary, examples: list):
    torch.manual_seed(0)
    config = recipe.model_copy(update={"batch_size": int(variant[1:])} if variant[1:].isdigit() else {})
    model = build_item_decoder(vocab, config)
    if variant in ("attn0", "nodrop"):
        for layer in model.body.layers:
            layer.attention.attention_dropout = 0.0
    if variant == "nodrop":
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    if variant == "eager":
        model.body.config._attn_implementation = "eager"
    if variant in ("eager", "library_body"):  # the attention implementation is the library forward's setting
        model.run_body = model.run_body.library
    sampler = LengthBuckets([len(e[0]) for e in examples], config.batch_size, torch.Generator().manual_seed(0))
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=partial(collate_items, pad_item=vocab.catalog.n_items))
    return model, adamw(model.parameters(), lr=config.lr, weight_decay=config.weight_decay), loader


def epoch(model, optimizer, loader) -> tuple[float, int]:
    model.train()
    started, steps = time.perf_counter(), 0
    for batch in loader:
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    return time.perf_counter() - started, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=PREPARED_DATA, required=True)
    parser.add_argument("--config", type=existing_file, default="configs/items-office-distill.yaml",
                        help="an items-backbone config with a teacher (its model and batch size are the base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = load_config(args.config).sft
    if recipe.backbone != "items" or recipe.teacher is None:
        parser.error(f"{args.config}: not an items-backbone config with sft.teacher")
    dataset, rng = PreparedDataset(args.data), np.random.default_rng(0)
    n = dataset.n_items
    codes = np.stack([rng.integers(0, 256, n), rng.integers(0, 256, n), rng.integers(0, 4, n)], 1)
    vocab = SIDVocabulary(SIDCatalog.build(codes, 256, dataset.item_ids), item_ids="append")
    sequences = dataset.train_sequences
    examples = item_examples(sequences, vocab, recipe.max_items, soft=stand_in_soft_targets(sequences, vocab, rng), top=TOP)
    variants = ["base", *[v for v in args.variants if v != "base"]]
    built = {v: build(v, recipe, vocab, examples) for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    steps: dict[str, int] = {}
    load_before = os.getloadavg()[0]  # other jobs on the machine show here: a busy figure says so
    for round_ in range(args.rounds):
        for v in variants:
            seconds, steps[v] = epoch(*built[v])
            times[v].append(round(seconds, 3))
            print(f"round {round_} {v}: {seconds:.2f} s, {steps[v]} steps", flush=True)
    base = statistics.median(times["base"])
    result = {"data": str(args.data), "config": str(args.config), "threads": args.threads, "windows": len(examples),
              "cpu": platform.machine(), "torch": torch.__version__,
              "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
              "variants": {v: {"what": VARIANTS[v], "steps": steps[v], "epoch_seconds": times[v],
                               "median": statistics.median(times[v]),
                               "vs_base": round(statistics.median(times[v]) / base, 3)} for v in variants}}
    write_json(args.out, result)
    for v, row in result["variants"].items():
        print(f"{v:7} {row['median']:6.2f} s  x{row['vs_base']:.3f}  {row['what']}")


if __name__ == "__main__":
    main()
