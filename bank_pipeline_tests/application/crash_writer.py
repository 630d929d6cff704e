"""A writer for the kill -9 test: runs a fixed, keyed workload; re-running it resumes where it died.

python -m bank_pipeline_tests.application.crash_writer DATABASE_URL OPERATIONS
"""

import random
import sys

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.store import EventStore, NewEvent

ACCOUNTS = [f"crash{i}" for i in range(10)]
BATCH_EVERY, BATCH_SIZE = 25, 400


def main(url: str, operations: int) -> None:
    rng = random.Random(7)
    with make_pool(url, max_size=2) as pool:
        store = EventStore(pool)
        handler = CommandHandler(store)
        for i in range(operations):
            source, target = rng.sample(ACCOUNTS, 2)
            amount = rng.randint(1, 5_000)
            try:
                handler.execute(
                    c.TransferInternal(f"crash-t{i}", source, target, amount, "EUR"),
                    idempotency_key=f"crash-{i}",
                )
            except DomainError:
                pass
            if i % BATCH_EVERY == 0:  # a large multi-stream append, to be killed in the middle of
                events = [NewEvent(f"batch{i}-{j % 40}", "Noted", {"j": j}) for j in range(BATCH_SIZE)]
                store.append(events, idempotency_key=f"crash-batch-{i}", request_hash=b"batch")
            print(i, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
