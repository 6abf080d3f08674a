"""`deepinterest run`: the whole method, every stage in order, unchanged stages skipped."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest.cli.common import SetOption, console, experiment, user_errors


def run(
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="experiment YAML (configs/office.yaml)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: one sub-folder per stage, report.md"),
    overrides: list[str] = SetOption,
) -> None:
    """data -> mine -> label -> tokenize -> sft -> evaluate, writing DIR/<stage> and DIR/report.md.

    A stage whose settings and inputs are unchanged since its last run is skipped, so a re-run costs
    little; a killed run picks up where it stopped.
    """
    from deepinterest.pipeline import run_pipeline

    with user_errors():
        record = run_pipeline(experiment(config, overrides), out, console)
    console.print(f"[bold green]done[/] in {record['total_seconds']:.0f} s: {out / 'report.md'}")
