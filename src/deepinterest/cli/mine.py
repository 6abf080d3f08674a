"""`deepinterest mine`: multi-LLM deep interest mining (MLIM)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, user_errors


def mine(
    data: Path = typer.Option(..., "--data", "-d", help="prepared data folder", exists=True, file_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="interests folder to write"),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="mine the first N items (and users) only"),
    users: bool = typer.Option(None, "--users/--no-users", help="also mine users' interests from their training history "
                                                                "(mine.users)"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Ask every configured LLM for each item's deep interests (and read interest files), merge them, write
    Parquet + summary.json.

    Every call is cached (mine.store): a re-run asks nothing twice and a killed run resumes.
    Without --config the two offline LLMs (SmolLM2-135M, Gemma-3-270M) are used.
    """
    from deepinterest.mining.stage import mine as run_mine

    with user_errors():
        cfg = experiment(config, overrides, **{"mine.users": users})
        summary = run_mine(data, out, cfg, limit=limit)
    table = Table(title=f"deep interests {out}")
    for column in ("backend", "jobs", "asked", "cached", "failed", "valid_rate", "completion tokens", "seconds", "jobs/s"):
        table.add_column(column, justify="right" if column != "backend" else "left")
    for name, s in summary["backends"].items():
        table.add_row(name, str(s["jobs"]), str(s["calls"]), str(s["cache_hits"]), str(s["failed"]),
                      f"{s['valid_rate']:.3f}", str(s["completion_tokens"]), f"{s['seconds']:.0f}",
                      f"{s['jobs_per_second'] or 0:.2f}")
    if summary["backends"]:
        console.print(table)
    for name, r in summary["imported"].items():
        console.print(f"{name}: {r['file']}: {r['rows']} rows, {r['interests']} interests of {r['items']} items "
                      f"({len(r['models'])} model(s)); {r['unknown_items']} rows of unknown items, {r['malformed']} "
                      f"malformed, rejected {r['rejected'] or 'none'}", highlight=False)
    console.print(f"{summary['mined_items']}/{summary['items']} items have interests, {summary['interests']} interests "
                  f"({summary['multi_model_interests']} proposed by several models), {summary['seconds']:.0f} s")


def behaviour_interests(
    data: Path = typer.Option(..., "--data", "-d", help="prepared data folder", exists=True, file_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="the interests file to write (.jsonl)"),
    coarse: int = typer.Option(None, min=2, help="coarse clusters (default: items / 50)"),
    fine: int = typer.Option(None, min=2, help="fine clusters (default: items / 12)"),
    shuffle: bool = typer.Option(False, help="negative control: hand each item's interests to a random other item"),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, help="replace OUT if it exists"),
) -> None:
    """Interests without an LLM: clusters of items bought together in the training split, named by their titles.

    Writes the interests file format; mine from it with `mine.backends: [{name: behaviour, kind: file, path: OUT}]`.
    """
    from deepinterest.data.dataset import PreparedDataset
    from deepinterest.data.io import write_jsonl
    from deepinterest.mining.behavioural import behavioural_interests

    with user_errors():
        if out.exists() and not overwrite:
            raise ValueError(f"{out} exists; pass --overwrite to replace it")
        if out.suffix.lower() not in (".jsonl", ".ndjson"):
            raise ValueError(f"{out}: write the interests as .jsonl")
        rows = behavioural_interests(PreparedDataset(data), coarse=coarse, fine=fine, shuffle=shuffle, seed=seed)
        write_jsonl(out, rows)
    console.print(f"{len(rows)} interests of {len({r['item'] for r in rows})} items, "
                  f"{len({r['interest'] for r in rows})} distinct phrases{' (shuffled)' if shuffle else ''}: {out}",
                  highlight=False)
