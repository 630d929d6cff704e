"""read_ahead: the items in order, the producer's error raised to the consumer, and an early stop that stops the
producer instead of letting it read everything."""

import threading
import time

import pytest

from bank_pipeline.read_ahead import read_ahead


def test_items_arrive_in_order_and_are_made_ahead_on_another_thread() -> None:
    makers = []

    def items():
        for number in range(50):
            makers.append(threading.current_thread().name)
            yield number

    assert list(read_ahead(items())) == list(range(50))
    assert set(makers) == {"read-ahead"}


def test_an_error_in_the_producer_is_raised_to_the_consumer_after_the_items_before_it() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("the database went away")

    received = []
    with pytest.raises(ValueError, match="went away"):
        for item in read_ahead(items()):
            received.append(item)
    assert received == [1, 2]


def test_stopping_early_stops_the_producer() -> None:
    made = []

    def items():
        for number in range(1_000):
            made.append(number)
            yield number

    for item in read_ahead(items(), depth=1):
        if item == 3:
            break
    time.sleep(0.1)
    assert len(made) <= 3 + 1 + 2  # what was consumed, the one queued, the one being made


def test_an_early_stop_closes_the_source_on_the_producers_thread() -> None:
    closed_on = []

    def items():
        try:
            yield from range(1_000)
        finally:
            closed_on.append(threading.current_thread().name)  # where a COPY would be cancelled

    for item in read_ahead(items(), depth=2):
        if item == 3:
            break
    assert closed_on == ["read-ahead"]
