"""kill -9 a writer mid-work, repeatedly, then let it finish: nothing half-applied, nothing applied twice."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.store.audit import verify
from bank_pipeline_tests.application.bank import account, customer
from bank_pipeline_tests.application.crash_writer import ACCOUNTS, BATCH_EVERY, BATCH_SIZE
from bank_pipeline_tests.application.invariants import check_bank_invariants

OPERATIONS = 300


def start_writer(url: str, path: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bank_pipeline_tests.application.crash_writer", url, str(OPERATIONS), path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("path", ["handler", "bus"])
def test_killed_writers_leave_no_partial_or_duplicate_effects(fresh_store, fresh_database_url, path):
    handler = CommandHandler(fresh_store)
    customer(handler, "crash-owner")
    for account_id in ACCOUNTS:
        account(handler, "crash-owner", account_id, funds=50_000)

    rng = random.Random(3)
    done = -1
    for _ in range(4):
        # Let the writer get a random distance past where the previous one died, then kill it mid-work.
        target = min(done + rng.randint(10, 60), OPERATIONS - 20)
        writer = start_writer(fresh_database_url, path)
        for line in writer.stdout:
            done = max(done, int(line))
            if done >= target:
                break
        time.sleep(rng.uniform(0, 0.05))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL

    final = start_writer(fresh_database_url, path)
    out, err = final.communicate(timeout=240)
    assert final.returncode == 0, err
    assert out.splitlines()[-1] == str(OPERATIONS - 1)

    check_bank_invariants(fresh_store)
    with fresh_store.pool.connection() as conn:
        legs = conn.execute(
            "SELECT payload->>'transfer_id', count(*) FROM event_store.events "
            "WHERE event_type IN ('AccountDebited', 'AccountCredited') AND payload->>'transfer_id' LIKE 'crash-t%%' "
            "GROUP BY 1"
        ).fetchall()
        batch_sizes = conn.execute(
            "SELECT split_part(stream_id, '-', 1), count(*) FROM event_store.events "
            "WHERE stream_id LIKE 'batch%%' GROUP BY 1"
        ).fetchall()
        report = verify(conn)
    assert all(count == 2 for _, count in legs), "a transfer was half-applied or applied twice"
    assert Counter(size for _, size in batch_sizes) == Counter({BATCH_SIZE: OPERATIONS // BATCH_EVERY})
    assert report.ok, report.findings[:3]
