"""`deepinterest serve`: the HTTP API and the inspection page over a trained run."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, user_errors


def serve(
    run: Path = typer.Argument(..., help="a `deepinterest run` folder (serves rl, else sft) or an sft/rl run folder"),
    host: str = typer.Option(None, help="address to bind (serve.host; default 127.0.0.1, this machine only)"),
    port: int = typer.Option(None, help="TCP port (serve.port; default 8000)"),
    interests: Path = typer.Option(None, "--interests", "-i", exists=True,
                                   help="RLDI label folder for explanations (serve.interests; default: the run's own)"),
    max_batch: int = typer.Option(None, help="histories searched together at most; 1 turns micro-batching off (serve.max_batch)"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Serve recommendations over HTTP: a JSON API (schema at /openapi.json) and an inspection page at /."""
    import uvicorn

    from deepinterest.serving.api import create_app
    from deepinterest.serving.engine import ServedRun
    from deepinterest.serving.service import Service

    with user_errors():
        settings = experiment(config, overrides, **{"serve.host": host, "serve.port": port, "serve.interests": interests,
                                                    "serve.max_batch": max_batch}).serve
        with console.status(f"loading {run}"):
            served = ServedRun(run, settings)
    console.print(f"serving {served.name} ({served.folders.model}) on http://{settings.host}:{settings.port}/ "
                  f"(API schema: /openapi.json)", highlight=False)
    uvicorn.run(create_app(Service(served, settings)), host=settings.host, port=settings.port, log_level="warning")
