"""The tokenizer's health figures: summary numbers and a PNG of code usage per level."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_code_usage(codes: np.ndarray, codebook_size: int, path: Path, title: str) -> None:
    """One panel per level: items per code, codes sorted by use (a flat profile is a healthy one)."""
    levels = codes.shape[1]
    figure, axes = plt.subplots(1, levels, figsize=(4 * levels, 3), sharey=True, squeeze=False)
    for level, axis in enumerate(axes[0]):
        counts = np.sort(np.bincount(codes[:, level], minlength=codebook_size))[::-1]
        used = int((counts > 0).sum())
        axis.bar(np.arange(codebook_size), counts, width=1.0, color="#3b6ea5")
        axis.axhline(len(codes) / codebook_size, color="#c0392b", linewidth=1, label="uniform")
        axis.set_title(f"level {level + 1}: {used}/{codebook_size} codes used")
        axis.set_xlabel("code (sorted by use)")
    axes[0][0].set_ylabel("items")
    axes[0][0].legend(loc="upper right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
