"""`deepinterest data ...`: import and split datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, user_errors
from deepinterest.data.formats import FORMATS
from deepinterest.data.registry import DATASETS

app = typer.Typer(help="Import interaction logs and item metadata, filter, split, write Parquet.", no_args_is_help=True)


@app.command()
def prepare(
    source: str = typer.Argument(None, help="registered dataset: office, beauty, sports, instruments"),
    out: Path = typer.Option(..., "--out", "-o", help="artifact folder to write"),
    format: str = typer.Option(None, "--format", "-f", help="importer for --path (see `deepinterest data formats`)"),
    path: Path = typer.Option(None, "--path", "-p", help="file or folder to import with --format"),
    kcore: int = typer.Option(None, help="k-core filter (default 5)"),
    dedup_consecutive: bool = typer.Option(None, "--dedup-consecutive/--keep-consecutive", help="drop repeated consecutive items"),
    max_history: int = typer.Option(None, help="longest history kept per evaluation example (default 50)"),
    split: str = typer.Option(None, help="loo (leave-one-out, default) or global (chronological 8:1:1)"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Import SOURCE (or --format/--path), filter, split and write DIR/{items,interactions,sequences,examples}.parquet."""
    from deepinterest.data.prepare import prepare as run_prepare

    with user_errors():
        if source is not None and (format or path):
            raise ValueError("give a registered SOURCE or --format with --path, not both")
        if source is None and not (format and path):
            raise ValueError("give a registered SOURCE, or both --format and --path")
        cfg = experiment(config, overrides, **{
            "data.source": source, "data.format": format, "data.path": path, "data.kcore": kcore,
            "data.dedup_consecutive": dedup_consecutive, "data.max_history": max_history, "data.split": split,
        })
        if cfg.data is None:
            raise ValueError("no data section: give SOURCE or --format/--path")
        with console.status("importing and splitting"):
            summary = run_prepare(cfg.data, out)
    table = Table(title=f"prepared {out}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key in ("users", "items", "interactions", "avg_seq_len", "train_examples", "valid_users", "test_users", "seconds"):
        table.add_row(key, str(summary[key]))
    console.print(table)


@app.command()
def formats() -> None:
    """List the importers and the registered datasets."""
    table = Table(title="formats (--format)")
    table.add_column("name")
    table.add_column("reads")
    for fmt in FORMATS.values():
        table.add_row(fmt.name, fmt.description)
    console.print(table)
    datasets = Table(title="registered datasets (SOURCE)")
    for column in ("name", "folder", "format", "about"):
        datasets.add_column(column)
    for d in DATASETS.values():
        datasets.add_row(d.name, d.folder, d.format, d.description)
    console.print(datasets)
