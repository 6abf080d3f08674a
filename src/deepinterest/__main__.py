"""`python -m deepinterest ...`: the same as the `deepinterest` command."""

from deepinterest.cli.main import app

app(prog_name="deepinterest")
