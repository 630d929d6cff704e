"""`bank-pipeline projections ...`: the read model (schema `projections`) for operators."""

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.runtime import Runtime

app = typer.Typer(help="The read model: where it stands, and a full rebuild without downtime.", no_args_is_help=True)


@app.command()
@operator_errors
def rebuild(
    readers: int = typer.Option(2, min=1, help="Sessions reading the events out at once."),
    loaders: int = typer.Option(2, min=1, help="Sessions loading tables and building indexes at once."),
) -> None:
    """Rebuild the read model from every event into a shadow schema, then swap it in.

    Readers keep reading the old tables until the swap commits, then read the new ones; a running projection
    worker pauses during the swap and goes on from the rebuilt checkpoint. Stopping it (Ctrl-C, an error) before
    the swap leaves the live read model as it was."""
    from bank_pipeline.projections.rebuild import RebuildAlreadyRunning
    from bank_pipeline.projections.rebuild import rebuild as rebuild_read_model
    from bank_pipeline.projections.rebuild_display import phase_bars
    from bank_pipeline.projections.rebuild_schema import RebuildUnsupported

    url = Runtime.open().url  # fails with what to do when the database has no event store yet
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())  # fmt: skip
    try:
        with Progress(*columns, console=console) as progress:
            result = rebuild_read_model(url, on_progress=phase_bars(progress), readers=readers, loaders=loaders)
    except (RebuildAlreadyRunning, RebuildUnsupported) as error:
        fail(str(error))
    console.print(
        f"rebuilt and swapped in: {result.events:,} events ({result.bulk_events:,} in bulk, "
        f"{result.caught_up_events:,} caught up afterwards) in {result.seconds_to_swap:.1f}s, "
        f"{result.events_per_second:,.0f} events/s; checkpoint {result.checkpoint.transaction_id}:"
        f"{result.checkpoint.global_position}"
    )
    console.print("phases: " + ", ".join(f"{phase} {seconds:.2f}s" for phase, seconds in result.seconds.items()))
    console.print("rows: " + ", ".join(f"{table} {count:,}" for table, count in result.rows_loaded.items()))


@app.command()
@operator_errors
def status(
    exact: bool = typer.Option(False, "--exact", help="Count every table's rows (slow on large tables)."),
) -> None:
    """The read model's checkpoint, how many events it is behind, and its tables' sizes."""
    from bank_pipeline.projections.rebuild_status import read_model_status

    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        state = read_model_status(conn, exact=exact)
    console = Console()
    checkpoint = state.checkpoint
    console.print(
        f"checkpoint {checkpoint.transaction_id}:{checkpoint.global_position}, {state.events_projected:,} events "
        f"projected, last moved {state.updated_at:%Y-%m-%d %H:%M:%S %Z}"
    )
    console.print(
        f"behind: {state.events_behind:,} final events not projected yet"
        + (
            f" (and {state.events_not_final:,} not final yet: their transactions are still open or too recent)"
            if state.events_not_final
            else ""
        )  # fmt: skip
    )
    table = Table("table", "rows" if state.exact else "rows (estimate)")
    for name, count in state.rows.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    if state.rebuild_running:
        console.print("a rebuild is running")
    if state.leftover_schemas and not state.rebuild_running:
        console.print(
            f"[yellow]left by a rebuild that died:[/] schema(s) {', '.join(state.leftover_schemas)} "
            "(the next rebuild drops them)"
        )
