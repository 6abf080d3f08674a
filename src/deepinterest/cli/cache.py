"""`deepinterest cache`: carry the mining store (every LLM call and its interests) between machines.

Mining Office with both offline LLMs takes hours of CPU; an exported store lets another machine, a CI
job or a later session import those calls and re-run every stage with cache hits instead.
"""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest.cli.common import console, user_errors

app = typer.Typer(help="Export or import the mining store (LLM calls and their interests).", no_args_is_help=True)

StoreOption = typer.Option(None, "--store", help="SQLite store (mine.store); default $DEEPINTEREST_CACHE/mining.sqlite "
                                                 "or ~/.cache/deepinterest/mining.sqlite")


def _store(path: Path | None):
    from deepinterest.mining.store import MiningStore

    return MiningStore(path)


@app.command("export")
def export(out: Path = typer.Argument(..., help="file to write (gzipped JSON lines, .jsonl.gz)"),
           store: Path = StoreOption,
           backend: list[str] = typer.Option(None, "--backend", "-b", help="only this backend's calls (repeatable)")) -> None:
    """Write every finished call of the store with its interests (failed calls are left out)."""
    from deepinterest.mining.store import default_store_path

    path = store or default_store_path()
    with user_errors():
        if not path.is_file():  # a mistyped --store would export an empty new store
            raise FileNotFoundError(f"{path}: no mining store there; nothing to export")
        with _store(path) as db:
            count = db.export(out, backends=backend or None)
    console.print(f"{count} calls -> {out}")


@app.command("import")
def import_(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a file written by `cache export`"),
            store: Path = StoreOption) -> None:
    """Add the file's calls that the store lacks; calls already stored are kept."""
    from deepinterest.mining.store import read_export

    with user_errors():
        calls = read_export(file)  # the whole file is checked before the store is opened (or created)
        with _store(store) as db:
            added, present = db.add(calls)
    console.print(f"{added} calls added, {present} already stored")
