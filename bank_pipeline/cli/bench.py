"""`bank-pipeline bench ...`: performance goals, each measured against a baseline in the same run."""

import typer

app = typer.Typer(help="Benchmarks that print our figures next to a baseline measured in the same run.",
                  no_args_is_help=True)
