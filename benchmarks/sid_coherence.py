"""How well Semantic IDs group items that users buy one after the other.

    .venv/bin/python benchmarks/sid_coherence.py --data runs/office-di/data --out runs/bench/sid_coherence.json \
        --sid text=runs/office-no-interests/tokenize --sid ieid=runs/office-di/tokenize

For every consecutive pair (a, b) in the training sequences: the share whose SIDs agree on the first code,
and on the first two, against the same share for a random b (the chance level). A tokenizer whose codes
follow what users buy together gives the recommender an easier first decoding step. Collision rate and
codebook use cannot show this: both SID sets can be equally spread yet group different items.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from inputs import PREPARED_DATA

from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_json
from deepinterest.tokenizer.catalog import SIDCatalog


def prefix_agreement(codes: np.ndarray, a: np.ndarray, b: np.ndarray, depth: int) -> float:
    return float((codes[a, :depth] == codes[b, :depth]).all(1).mean())


def coherence(dataset: PreparedDataset, catalog: SIDCatalog, seed: int = 0) -> dict:
    pairs = np.array([(s[i], s[i + 1]) for s in dataset.train_sequences for i in range(len(s) - 1)])
    a, b = pairs[:, 0], pairs[:, 1]
    chance = np.random.default_rng(seed).integers(0, catalog.n_items, len(b))
    codes = catalog.codes  # items x levels
    result = {"pairs": len(pairs)}
    for depth in (1, 2):
        result[f"next_item_shares_{depth}"] = round(prefix_agreement(codes, a, b, depth), 4)
        result[f"random_item_shares_{depth}"] = round(prefix_agreement(codes, a, chance, depth), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=PREPARED_DATA, required=True, help="a prepared data folder (DIR/data of a run)")
    parser.add_argument("--sid", action="append", required=True, help="NAME=TOKENIZE_FOLDER (catalog.json)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    dataset = PreparedDataset(args.data)
    results = {}
    for spec in args.sid:
        name, folder = spec.split("=", 1)
        results[name] = coherence(dataset, SIDCatalog.load(Path(folder), dataset.item_ids)) | {"folder": folder}
        print(name, results[name])
    write_json(args.out, results)


if __name__ == "__main__":
    main()
