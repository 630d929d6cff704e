"""`bank-pipeline worker`: the projection worker, in the foreground, until SIGTERM or Ctrl-C."""

import logging

import typer

from bank_pipeline.cli.errors import operator_errors
from bank_pipeline.projections.projector import DEFAULT_BATCH_SIZE
from bank_pipeline.projections.worker import DEFAULT_POLL_INTERVAL, DEFAULT_REPORT_EVERY


@operator_errors
def worker(
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, min=1, help="Events projected per transaction at most."),
    poll_interval: float = typer.Option(
        DEFAULT_POLL_INTERVAL, min=0.01, help="Seconds between looks for new events when no NOTIFY wakes the worker."
    ),
    report_every: float = typer.Option(
        DEFAULT_REPORT_EVERY, min=0.1, help="Seconds between progress lines (events, checkpoint, lag) in the log."
    ),
) -> None:
    """Keep the read model (schema `projections`) current: catch up from its checkpoint, then project new events
    as they are appended. Logs to stderr. SIGTERM or Ctrl-C stops it after the current batch (exit 0); after a
    crash, start it again: it resumes from its checkpoint, nothing projected twice."""
    from bank_pipeline.projections.worker import ProjectionWorker, run_until_signalled
    from bank_pipeline.runtime import Runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = Runtime.open().url  # fails with what to do when the database has no event store yet
    run_until_signalled(
        ProjectionWorker(url, batch_size=batch_size, poll_interval=poll_interval, report_every=report_every)
    )
