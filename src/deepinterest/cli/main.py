"""The `deepinterest` command."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest import __version__
from deepinterest.cli import baseline, data
from deepinterest.cli.generative import convert_gguf, evaluate, rl, sft
from deepinterest.cli.label import label
from deepinterest.cli.mine import mine
from deepinterest.cli.run import run
from deepinterest.cli.tokenize import tokenize
from deepinterest.cli.common import console, user_errors

app = typer.Typer(help="deepinterest: generative recommendation with deep interests (DeepInterestGR).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(data.app, name="data")
app.add_typer(baseline.app, name="baseline")
app.command()(mine)
app.command()(label)
app.command()(tokenize)
app.command()(sft)
app.command()(rl)
app.command()(evaluate)
app.command(name="convert-gguf")(convert_gguf)
app.command()(run)


@app.command()
def metrics(rankings: Path = typer.Argument(..., exists=True, dir_okay=False, help="a rankings.jsonl file")) -> None:
    """Recompute HR@K and NDCG@K from a rankings.jsonl, independently of the model that wrote it."""
    from deepinterest.evaluation.rankings import metrics_from_rankings

    with user_errors():
        values = metrics_from_rankings(rankings)
    for key, value in values.items():
        console.print(f"{key}\t{value:.6f}", highlight=False)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


if __name__ == "__main__":
    app()
