"""`deepinterest baseline pop|sasrec`: reference models through the shared evaluation harness."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, metrics_table, user_errors

app = typer.Typer(help="Baselines evaluated by the shared harness (metrics.json, rankings.jsonl).", no_args_is_help=True)

DataOption = typer.Option(..., "--data", "-d", help="prepared data folder (from `deepinterest data prepare`)", exists=True, file_okay=False)
OutOption = typer.Option(..., "--out", "-o", help="run folder for metrics.json, rankings.jsonl and the model")
KEYS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "coverage@10")


@app.command()
def pop(data: Path = DataOption, out: Path = OutOption, config: Path = ConfigOption, overrides: list[str] = SetOption) -> None:
    """Most popular items of the training part, for every user."""
    from deepinterest.evaluation.baselines import run_pop

    with user_errors():
        results = run_pop(data, out, experiment(config, overrides))
    console.print(metrics_table(f"pop: {out}", results, KEYS))


@app.command()
def sasrec(data: Path = DataOption, out: Path = OutOption, config: Path = ConfigOption, overrides: list[str] = SetOption,
           epochs: int = typer.Option(None, help="maximum epochs (sasrec.epochs)"),
           device: str = typer.Option(None, help="auto, cpu, cuda, cuda:N (sasrec.device)")) -> None:
    """SASRec (self-attentive sequential recommendation), early stopping on valid NDCG@10; resumes in OUT."""
    from deepinterest.evaluation.baselines import run_sasrec

    with user_errors():
        results = run_sasrec(data, out, experiment(config, overrides, **{"sasrec.epochs": epochs, "sasrec.device": device}))
    console.print(metrics_table(f"sasrec: {out}", results, KEYS))
