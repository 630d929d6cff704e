"""A fraud worker in a process of its own, for the kill -9 test:

python -m bank_pipeline_tests.fraud.fraud_worker_process DATABASE_URL BATCH_SIZE

Runs until SIGTERM/SIGINT like `bank-pipeline fraud worker` (which takes seconds longer to import), logging to
stderr; prints "started" on stdout once it has connected.
"""

import logging
import sys

from bank_pipeline.fraud.worker import FraudWorker
from bank_pipeline.store.stream_worker import run_until_signalled


class ReportingWorker(FraudWorker):
    def prepare(self, conn) -> None:
        super().prepare(conn)
        print("started", flush=True)


def main(url: str, batch_size: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_until_signalled(ReportingWorker(url, batch_size=batch_size, poll_interval=0.2))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
