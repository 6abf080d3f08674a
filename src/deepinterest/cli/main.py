"""The `deepinterest` command."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest import __version__
from deepinterest.cli import baseline, cache, data
from deepinterest.cli.generative import convert_gguf, evaluate, rl, sft
from deepinterest.cli.label import label
from deepinterest.cli.mine import behaviour_interests, mine
from deepinterest.cli.run import run
from deepinterest.cli.serve import serve
from deepinterest.cli.tokenize import tokenize
from deepinterest.cli.common import console, user_errors

app = typer.Typer(help="deepinterest: generative recommendation with deep interests (DeepInterestGR).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(data.app, name="data")
app.add_typer(baseline.app, name="baseline")
app.add_typer(cache.app, name="cache")
app.command()(mine)
app.command(name="behaviour-interests")(behaviour_interests)
app.command()(label)
app.command()(tokenize)
app.command()(sft)
app.command()(rl)
app.command()(evaluate)
app.command(name="convert-gguf")(convert_gguf)
app.command()(run)
app.command()(serve)


@app.command()
def metrics(rankings: Path = typer.Argument(..., exists=True, dir_okay=False, help="a rankings.jsonl file")) -> None:
    """Recompute HR@K and NDCG@K from a rankings.jsonl, independently of the model that wrote it."""
    from deepinterest.evaluation.rankings import metrics_from_rankings

    with user_errors():
        values = metrics_from_rankings(rankings)
    for key, value in values.items():
        console.print(f"{key}\t{value:.6f}", highlight=False)


@app.command()
def compare(a: Path = typer.Argument(..., exists=True, dir_okay=False, help="rankings.jsonl of the baseline"),
            b: Path = typer.Argument(..., exists=True, dir_okay=False, help="rankings.jsonl of the challenger"),
            metric: list[str] = typer.Option(["ndcg@10", "hr@10"], "--metric", "-m", help="hr@K or ndcg@K (repeatable)"),
            resamples: int = typer.Option(2000, min=100, help="bootstrap resamples of the users")) -> None:
    """Is B better than A? Paired bootstrap over the users both rankings share (difference and 95% interval)."""
    from deepinterest.evaluation.significance import paired_bootstrap

    with user_errors():
        results = [paired_bootstrap(a, b, m, resamples) for m in metric]
    for r in results:
        low, high = r["ci95"]
        print(f"{r['metric']}\tA {r['a']:.5f}\tB {r['b']:.5f}\tB-A {r['difference']:+.5f} "
              f"[{low:+.5f}, {high:+.5f}]\tP(B<=A) {r['p_b_not_better']:.3f}\t"
              f"{r['users_that_differ']}/{r['users']} users differ")


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


if __name__ == "__main__":
    app()
