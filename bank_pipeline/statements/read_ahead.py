"""Run an iterator one item ahead in a background thread: while the caller works on an item, the next is made.

Worth it when making an item waits on something that releases the GIL (the database, polars): here, the
database reads the next batch of statements while the current one is rendered.
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
    Stopping early (break, an exception in the caller) stops the producer once the item it is making is done.
    Whatever `items` uses (a database connection) is busy until this iterator is exhausted or closed."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        source = iter(items)
        try:
            while not stop.is_set():
                try:
                    item = next(source)
                except StopIteration:
                    break
                handoff.put((item, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, who raises it
            handoff.put((_DONE, error))
            return
        handoff.put((_DONE, None))

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
        while producer.is_alive():  # unblock a producer waiting to hand over an item nobody will take
            try:
                handoff.get_nowait()
            except queue.Empty:
                producer.join(timeout=0.05)
