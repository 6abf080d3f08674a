"""`deepinterest tokenize`: build the Semantic ID catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, user_errors


def tokenize(
    data: Path = typer.Option(..., "--data", "-d", help="prepared data folder", exists=True, file_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="catalog folder to write"),
    interests: Path = typer.Option(None, "--interests", "-i", exists=True, dir_okay=False,
                                   help="Parquet of curated interests (item, interest[, keep, confidence]): IEID"),
    collab: Path = typer.Option(None, "--collab", exists=True, file_okay=False,
                                help="a `deepinterest baseline sasrec` run on the same data: collaborative SIDs (tokenizer.collab)"),
    method: str = typer.Option(None, help="rqvae (default) or rqkmeans (tokenizer.method)"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Embed item text (and deep interests, and collaborative vectors), quantize into Semantic IDs, write the catalog."""
    from deepinterest.tokenizer.stage import tokenize as run_tokenize

    with user_errors():
        cfg = experiment(config, overrides, **{"tokenizer.method": method, "tokenizer.collab": collab})
        summary = run_tokenize(data, out, cfg, interests)
    table = Table(title=f"SID catalog {out}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in ("items", "levels", "codebook_size", "collision_rate", "max_bucket", "codebook_usage", "perplexity", "seconds"):
        value = summary[key]
        text = ", ".join(f"{v:.3f}" for v in value) if isinstance(value, list) else (f"{value:.4f}" if isinstance(value, float) else str(value))
        table.add_row(key, text)
    console.print(table)
