"""Helpers shared by the CLI commands: config loading with overrides, errors without tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepinterest.config import ExperimentConfig, load_config
from deepinterest.data.errors import DataFormatError, UnknownFormatError

console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", "-c", help="experiment YAML (see configs/)", exists=True, dir_okay=False)
SetOption = typer.Option([], "--set", "-s", help="override a config value: section.key=value (repeatable)")


def experiment(config: Path | None, overrides: list[str], **updates) -> ExperimentConfig:
    """Load the config file, then --set overrides, then explicit flags (the most specific wins)."""
    extra = [f"{key}={value}" for key, value in updates.items() if value is not None]
    return load_config(config, [*overrides, *extra])


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one red line and exit code 2."""
    try:
        yield
    except (DataFormatError, UnknownFormatError, FileNotFoundError, ValidationError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def metrics_table(title: str, results: dict[str, dict], keys: tuple[str, ...]) -> Table:
    table = Table(title=title)
    table.add_column("split")
    for key in keys:
        table.add_column(key, justify="right")
    for split, values in results.items():
        table.add_row(split, *(f"{values[k]:.4f}" if k in values else "-" for k in keys))
    return table
