"""A writer for the kill -9 test: runs a fixed, keyed workload; re-running it resumes where it died.

python -m bank_pipeline_tests.application.crash_writer DATABASE_URL OPERATIONS handler|bus

With "bus", the transfers go through a CommandBus, eight at a time, so a kill can land in a group append.
"""

import random
import sys

from bank_pipeline.application import CommandBus, CommandHandler
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.store import EventStore, NewEvent

ACCOUNTS = [f"crash{i}" for i in range(10)]
BATCH_EVERY, BATCH_SIZE = 25, 400


GROUP = 8


def main(url: str, operations: int, path: str) -> None:
    rng = random.Random(7)
    with make_pool(url, max_size=3) as pool:
        store = EventStore(pool)
        handler = CommandHandler(store)
        bus = CommandBus(handler) if path == "bus" else None
        pending = []
        for i in range(operations):
            source, target = rng.sample(ACCOUNTS, 2)
            transfer = c.TransferInternal(f"crash-t{i}", source, target, rng.randint(1, 5_000), "EUR")
            if bus:
                pending.append(bus.submit(transfer, idempotency_key=f"crash-{i}"))
                if len(pending) == GROUP or i % BATCH_EVERY == 0:
                    for future in pending:
                        if future.exception() and not isinstance(future.exception(), DomainError):
                            raise future.exception()
                    pending = []
            else:
                try:
                    handler.execute(transfer, idempotency_key=f"crash-{i}")
                except DomainError:
                    pass
            if i % BATCH_EVERY == 0:  # a large multi-stream append, to be killed in the middle of
                events = [NewEvent(f"batch{i}-{j % 40}", "Noted", {"j": j}) for j in range(BATCH_SIZE)]
                store.append(events, idempotency_key=f"crash-batch-{i}", request_hash=b"batch")
            if not pending:
                print(i, flush=True)
        if bus:
            bus.close()
            print(operations - 1, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
