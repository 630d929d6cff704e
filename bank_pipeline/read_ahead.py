"""Run an iterator ahead in a background thread: while the caller works on an item, the next ones are made.

Worth it when making an item waits on something that releases the GIL (the database, polars, Arrow): the statement
run renders one batch while the database reads the next; the archive export decodes and writes one batch of a COPY
while the next is read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of `items`, in order, made up to `depth` ahead; an exception in the producer is raised here.
    Stopping early (break, an exception in the caller) stops the producer once the item it is making is done, and
    the producer closes `items` (a generator's cleanup runs on the thread that used it: a COPY is cancelled on the
    thread that reads it) before this iterator returns. Whatever `items` uses (a database connection) is busy until
    this iterator is exhausted or closed."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, who raises it
            offer(_DONE, error)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        producer.join()
