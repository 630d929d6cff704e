"""A projection worker in a process of its own, for the kill -9 and SIGTERM tests:

python -m bank_pipeline_tests.projections.worker_process DATABASE_URL BATCH_SIZE POLL_INTERVAL

Runs until SIGTERM/SIGINT like `bank-pipeline worker` (which takes seconds longer to import), logging to stderr;
prints "projected TRANSACTION_ID:POSITION EVENTS" on stdout after each committed batch.
"""

import logging
import sys

from bank_pipeline.projections.worker import ProjectionWorker, run_until_signalled


def report(batch, began_at, committed_at) -> None:
    print(f"projected {batch.upto.transaction_id}:{batch.upto.global_position} {batch.events}", flush=True)


def main(url: str, batch_size: int, poll_interval: float) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_until_signalled(
        ProjectionWorker(url, batch_size=batch_size, poll_interval=poll_interval, report_every=1.0, on_batch=report)
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
