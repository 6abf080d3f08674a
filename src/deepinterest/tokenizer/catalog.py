"""The SID catalog: item <-> Semantic ID one to one, and the prefix tables for constrained decoding.

An item's SID is its `levels` codes, plus a suffix token only when its full code is shared by other
items (the suffix numbers the items of that bucket, 0, 1, ...). Token ids are global: level l code c
is token l * codebook_size + c, suffix s is token levels * codebook_size + s.

Constrained decoding walks a trie stored as one dense table per depth: `next[d][node, t]` is the
child node reached from `node` by the t-th token of depth d (-1: not allowed), and `leaf[d][node]`
is the item that ends at that node (-1: none). No Python object tree, no pickle.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from deepinterest.data.io import atomic_path, read_json, write_json


def items_fingerprint(item_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(item_ids).encode()).hexdigest()


@dataclass
class SIDCatalog:
    codes: np.ndarray  # items x levels
    suffix: np.ndarray  # per item: its suffix, or -1 when its code is unique
    codebook_size: int
    items_sha256: str
    next: list[np.ndarray] = field(default_factory=list, repr=False)
    leaf: list[np.ndarray] = field(default_factory=list, repr=False)

    @classmethod
    def build(cls, codes: np.ndarray, codebook_size: int, item_ids: list[str]) -> SIDCatalog:
        codes = np.asarray(codes, dtype=np.int64)
        if len(codes) != len(item_ids):
            raise ValueError(f"{len(codes)} codes for {len(item_ids)} items")
        _, bucket, sizes = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
        bucket = bucket.ravel()
        suffix = np.full(len(codes), -1, dtype=np.int64)
        seen = np.zeros(len(sizes), dtype=np.int64)
        for item in np.flatnonzero(sizes[bucket] > 1):  # items in item-index order get 0, 1, ...
            suffix[item] = seen[bucket[item]]
            seen[bucket[item]] += 1
        catalog = cls(codes, suffix, codebook_size, items_fingerprint(item_ids))
        catalog._build_trie()
        return catalog

    # --- sizes and tokens ------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.codes)

    @property
    def levels(self) -> int:
        return self.codes.shape[1]

    @cached_property  # read for every token of every history (vocab_size); the suffixes never change
    def suffix_size(self) -> int:
        return int(self.suffix.max()) + 1 if (self.suffix >= 0).any() else 0

    @property
    def vocab_size(self) -> int:
        return self.levels * self.codebook_size + self.suffix_size

    @property
    def max_length(self) -> int:
        return self.levels + (1 if self.suffix_size else 0)

    def tokens(self, item: int) -> list[int]:
        out = [level * self.codebook_size + int(c) for level, c in enumerate(self.codes[item])]
        if self.suffix[item] >= 0:
            out.append(self.levels * self.codebook_size + int(self.suffix[item]))
        return out

    def sid_string(self, item: int) -> str:
        return "".join(self.token_name(t) for t in self.tokens(item))

    def token_name(self, token: int) -> str:
        """`<a_12>`: level letter and code (the suffix level takes the next letter)."""
        depth = min(token // self.codebook_size, self.levels)
        return f"<{'abcdefghijklmnopqrstuvwxyz'[depth]}_{token - self.token_offset(depth)}>"

    def token_names(self) -> list[str]:
        """Every SID token's name in global id order (what a pretrained LM adds to its vocabulary)."""
        return [self.token_name(t) for t in range(self.vocab_size)]

    def token_offset(self, depth: int) -> int:
        """Global id of the first token of `depth` (the suffix depth is `levels`)."""
        return depth * self.codebook_size

    @cached_property
    def codes_sha256(self) -> str:
        """What a model trained on this catalog depends on: every item's codes and suffix, and the codebook size."""
        digest = hashlib.sha256(np.ascontiguousarray(self.codes, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.suffix, dtype=np.int64).tobytes())
        digest.update(str(self.codebook_size).encode())
        return digest.hexdigest()

    def check_trained_with(self, recorded: str | None, folder: Path, run: Path) -> None:
        """Refuse to rank with a catalog other than the one `run` was trained on (a run records its catalog's
        `codes_sha256`; older runs without it are taken as they are)."""
        if recorded is not None and recorded != self.codes_sha256:
            raise ValueError(f"{folder}: this SID catalog is not the one {run} was trained on (it was rebuilt or "
                             "replaced since); its model would rank the wrong items. Point the run at its own catalog "
                             "or train again")

    # --- statistics -------------------------------------------------------------------------

    def collision_stats(self) -> dict:
        """Share of items whose full code (before the suffix) is shared, and the largest bucket."""
        _, sizes = np.unique(self.codes, axis=0, return_counts=True)
        return {"collision_rate": float((self.suffix >= 0).mean()), "max_bucket": int(sizes.max()),
                "unique_codes": int(len(sizes))}

    # --- constrained decoding ---------------------------------------------------------------

    def _build_trie(self) -> None:
        """One dense transition table and one leaf table per depth (see the module docstring)."""
        self.next, self.leaf = [], []
        node_of = np.zeros(self.n_items, dtype=np.int64)  # each item's node at the current depth (root: 0)
        n_nodes = 1
        for depth in range(self.levels):
            child_key = np.stack([node_of, self.codes[:, depth]], axis=1)
            children, child_of = np.unique(child_key, axis=0, return_inverse=True)
            table = np.full((n_nodes, self.codebook_size), -1, dtype=np.int32)
            table[children[:, 0], children[:, 1]] = np.arange(len(children), dtype=np.int32)
            self.next.append(table)
            self.leaf.append(np.full(n_nodes, -1, dtype=np.int32))
            node_of, n_nodes = child_of.ravel(), len(children)
        # Depth `levels`: unique codes end here; shared ones continue with their suffix.
        leaf = np.full(n_nodes, -1, dtype=np.int32)
        unique = self.suffix < 0
        leaf[node_of[unique]] = np.flatnonzero(unique).astype(np.int32)
        self.leaf.append(leaf)
        if self.suffix_size:
            table = np.full((n_nodes, self.suffix_size), -1, dtype=np.int32)
            shared = np.flatnonzero(~unique)
            table[node_of[shared], self.suffix[shared]] = np.arange(len(shared), dtype=np.int32)
            self.next.append(table)
            self.leaf.append(shared.astype(np.int32))

    def decode(self, tokens: list[int]) -> int | None:
        """The item a full token sequence names, or None (walks the tables, as a decoder would)."""
        node = 0
        for depth, token in enumerate(tokens):
            if depth >= len(self.next):
                return None
            local = token - self.token_offset(depth)
            if not 0 <= local < self.next[depth].shape[1]:
                return None
            node = int(self.next[depth][node, local])
            if node < 0:
                return None
        item = int(self.leaf[len(tokens)][node]) if len(tokens) < len(self.leaf) else -1
        return item if item >= 0 else None

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, list[torch.Tensor]]:
        """The trie tables as torch tensors, for decoders that constrain with tensor ops."""
        return {"next": [torch.as_tensor(t, device=device) for t in self.next],
                "leaf": [torch.as_tensor(t, device=device) for t in self.leaf]}

    # --- persistence ------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        arrays = {"codes": self.codes, "suffix": self.suffix}
        arrays.update({f"next_{d}": t for d, t in enumerate(self.next)})
        arrays.update({f"leaf_{d}": t for d, t in enumerate(self.leaf)})
        with atomic_path(folder / "catalog.safetensors") as tmp:
            save_file(arrays, str(tmp))
        write_json(folder / "catalog.json", {
            "items": self.n_items, "levels": self.levels, "codebook_size": self.codebook_size,
            "suffix_size": self.suffix_size, "vocab_size": self.vocab_size, "items_sha256": self.items_sha256,
        })

    @classmethod
    def load(cls, folder: Path, item_ids: list[str] | None = None) -> SIDCatalog:
        """Load a catalog; with `item_ids` (the data it will serve), refuse one made for other data."""
        folder = Path(folder)
        meta = read_json(folder / "catalog.json")
        if item_ids is not None:
            if len(item_ids) != meta["items"] or items_fingerprint(item_ids) != meta["items_sha256"]:
                raise ValueError(f"{folder}: this SID catalog was built for other data "
                                 f"({meta['items']} items, not these {len(item_ids)}); re-run `deepinterest tokenize`")
        arrays = load_file(str(folder / "catalog.safetensors"))
        depths = sorted(int(k.split("_")[1]) for k in arrays if k.startswith("next_"))
        catalog = cls(arrays["codes"], arrays["suffix"], int(meta["codebook_size"]), meta["items_sha256"],
                      [arrays[f"next_{d}"] for d in depths],
                      [arrays[f"leaf_{d}"] for d in range(len(depths) + 1)])
        if catalog.n_items != meta["items"]:
            raise ValueError(f"{folder}: catalog.safetensors does not match catalog.json")
        return catalog

