"""`deepinterest label`: reward-labeled deep interests (RLDI)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, user_errors


def label(
    data: Path = typer.Option(..., "--data", "-d", help="prepared data folder", exists=True, file_okay=False),
    interests: Path = typer.Option(..., "--interests", "-i", exists=True, help="`deepinterest mine` output folder"),
    out: Path = typer.Option(..., "--out", "-o", help="labels folder to write"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Keep or drop every mined interest (a calibrated classifier), and score each item's interests (q_i)."""
    from deepinterest.labeling.stage import label as run_label

    with user_errors():
        summary = run_label(data, interests, out, experiment(config, overrides))
    table = Table(title=f"RLDI labels {out}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in ("pairs", "kept", "keep_rate", "items_with_kept", "mean_q", "labels", "positive_rate", "auc",
                "precision", "recall", "seconds"):
        table.add_row(key, str(summary.get(key)))
    table.add_row("labels by source", ", ".join(f"{k}: {v}" for k, v in summary["labels_by_source"].items()))
    console.print(table)
