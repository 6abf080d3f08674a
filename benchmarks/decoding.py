"""Constrained beam search: ours (catalog tensors) against HF `generate` with `prefix_allowed_tokens_fn`.

    .venv/bin/python benchmarks/decoding.py --run runs/office/tiger --out runs/bench/decoding.json [--users 256]

Any trained run: TIGER (encoder-decoder) or a decoder-only one (the decoder backbone, a causal LM).

The same trained model, the same users and beam width go through both. HF's side gets a trie of
allowed continuations (a dict of prefixes, the usual recipe) and, so that both rank by the same
sum of SID log-probabilities, a processor that makes the forced end token free after a complete
SID (our search adds nothing there) and no length penalty. Writes users per second of each, their
ratio, and the share of users whose top-K items agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from inputs import TRAINED_RUN
from transformers import LogitsProcessor, LogitsProcessorList

from deepinterest.config import ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import read_json, write_json
from deepinterest.evaluation.generative import GenerativeRanker
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.sft import build_vocabulary, load_trained_model


class FreeEndAfterItem(LogitsProcessor):
    """After a complete SID only the end token is allowed; give it log-probability 0."""

    def __init__(self, complete: set[tuple[int, ...]], eos: int, skip: int):
        self.complete, self.eos, self.skip = complete, eos, skip

    def __call__(self, input_ids, scores):
        for row, prefix in enumerate(input_ids[:, self.skip:].tolist()):
            if tuple(prefix) in self.complete:
                scores[row, self.eos] = 0.0
        return scores


def hf_search(model, vocab: SIDVocabulary, input_ids, mask, beams: int) -> list[list[int]]:
    sids = {tuple(vocab.item_tokens(i)): i for i in range(vocab.catalog.n_items)}
    allowed: dict[tuple[int, ...], set[int]] = {}
    for sid in sids:
        for depth in range(len(sid)):
            allowed.setdefault(sid[:depth], set()).add(sid[depth])
    for sid in sids:
        allowed[sid] = {vocab.eos}
    allowed = {prefix: sorted(tokens) for prefix, tokens in allowed.items()}

    # What comes before the generated tokens: the decoder start (encoder-decoder) or the whole prompt.
    skip = 1 if getattr(model.config, "is_encoder_decoder", False) else input_ids.shape[1]

    def prefix_allowed(_, decoded):
        return allowed.get(tuple(decoded[skip:].tolist()), [vocab.eos])

    out = model.generate(input_ids=input_ids, attention_mask=mask, num_beams=beams, num_return_sequences=beams,
                         do_sample=False, top_k=None, top_p=None, length_penalty=0.0, early_stopping=True,
                         max_new_tokens=vocab.catalog.max_length + 1, prefix_allowed_tokens_fn=prefix_allowed,
                         logits_processor=LogitsProcessorList([FreeEndAfterItem(set(sids), vocab.eos, skip)]),
                         decoder_start_token_id=vocab.pad, pad_token_id=vocab.pad, eos_token_id=vocab.eos)
    ranked = []
    for row in out.view(input_ids.shape[0], beams, -1).tolist():
        items = [sids.get(tuple(t for t in seq[skip:] if t not in (vocab.pad, vocab.eos)), -1) for seq in row]
        ranked.append(items)
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=TRAINED_RUN, required=True, help="a trained SFT run folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()

    info = read_json(args.run / "run.json")
    config = ExperimentConfig.model_validate(info["config"])
    dataset = PreparedDataset(Path(info["data"]))
    vocab, _ = build_vocabulary(SIDCatalog.load(Path(info["sid"]), dataset.item_ids), config.sft)
    model = load_trained_model(args.run, vocab, config.sft)
    model.eval()
    histories = dataset.examples("test").histories[: args.users]
    ranker = GenerativeRanker(model, vocab, args.beams, config.sft.max_items)

    ours, theirs, seconds = [], [], {"ours": 0.0, "hf": 0.0}
    for start in range(0, len(histories), args.batch):
        chunk = histories[start:start + args.batch]
        began = time.perf_counter()
        ours.extend(ranker.rank(None, chunk, args.k).tolist())
        seconds["ours"] += time.perf_counter() - began
        input_ids, mask = ranker.search.pad([vocab.history_tokens(h, config.sft.max_items) for h in chunk])
        began = time.perf_counter()
        with torch.no_grad():
            theirs.extend(r[: args.k] for r in hf_search(model, vocab, input_ids, mask, args.beams))
        seconds["hf"] += time.perf_counter() - began
    same = sum(a == b for a, b in zip(ours, theirs)) / len(ours)
    same_sets = sum(set(a) == set(b) for a, b in zip(ours, theirs)) / len(ours)
    report = {
        "run": str(args.run), "backbone": config.sft.backbone, "users": len(histories), "beams": args.beams, "k": args.k, "batch": args.batch,
        "users_per_second": {name: round(len(histories) / s, 2) for name, s in seconds.items()},
        "speedup": round(seconds["hf"] / seconds["ours"], 2),
        "identical_top_k": same, "identical_top_k_sets": same_sets,
        "invalid_ours": sum(i < 0 for r in ours for i in r), "invalid_hf": sum(i < 0 for r in theirs for i in r),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()},
    }
    print(json.dumps(report, indent=2))
    write_json(args.out, report)


if __name__ == "__main__":
    main()
