"""`bank-pipeline bench api` at a tiny size: the loaded read model is consistent, and a short run's figures are real
(every request sent was answered 200, latencies measured, the answers agree with the database)."""

import io
import uuid
from collections.abc import Iterator

import pytest
from rich.console import Console

from bank_pipeline.bench import api_load
from bank_pipeline.bench.api import ApiBenchOptions, render, run
from bank_pipeline.db.connection import connect

ACCOUNTS, ENTRIES = 2_000, 40_000


@pytest.fixture(scope="module")
def kept_dataset(server_url: str) -> Iterator[tuple[str, api_load.LoadedDataset]]:
    """A small data set loaded once, kept so the run below reuses it; dropped at the end."""
    name = f"bp_test_bench_api_{uuid.uuid4().hex[:8]}"
    plan = api_load.DatasetPlan(ACCOUNTS, ENTRIES)
    try:
        with api_load.api_dataset(plan, keep=True, console=Console(file=io.StringIO()), name=name) as dataset:
            yield name, dataset
    finally:
        api_load.drop_kept(name, server_url)


RUNNING_SUMS_OFF = """
WITH sums AS (
    SELECT balance_after, known_balance, business_balance,
           sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END)
               OVER (PARTITION BY account_id ORDER BY stream_version) AS by_stream,
           sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END)
               OVER (PARTITION BY account_id ORDER BY occurred_at, stream_version) AS by_business_time
      FROM projections.account_entries)
SELECT count(*) FILTER (WHERE by_stream <> balance_after OR by_stream <> known_balance
                           OR by_business_time <> business_balance OR balance_after < 0)
  FROM sums
"""
ACCOUNTS_OFF = """
SELECT count(*) FROM projections.account_balances a
  JOIN LATERAL (SELECT * FROM projections.account_entries e WHERE e.account_id = a.account_id
                 ORDER BY e.stream_version DESC LIMIT 1) last ON true
 WHERE a.ledger_balance <> last.balance_after OR a.version <> last.stream_version
    OR a.last_position <> last.global_position
"""
OWNERS_OFF = """
SELECT count(*) FROM projections.account_balances a
 WHERE NOT EXISTS (SELECT FROM projections.customer_accounts ca
                    WHERE ca.account_id = a.account_id AND ca.customer_id = a.customer_id)
    OR NOT EXISTS (SELECT FROM projections.customers c WHERE c.customer_id = a.customer_id)
"""
CHECKPOINT_OFF = """
SELECT count(*) FROM projections.checkpoints
 WHERE global_position <> (SELECT max(last_position) FROM projections.account_balances)
"""


def test_the_loaded_read_model_is_what_the_projector_would_leave(kept_dataset):
    _, dataset = kept_dataset
    assert not dataset.reused
    with connect(dataset.url) as conn:

        def count(query: str) -> int:
            return conn.execute(query).fetchone()[0]

        assert count("SELECT count(*) FROM projections.account_balances") == ACCOUNTS
        assert count("SELECT count(*) FROM projections.customers") == dataset.plan.customers
        assert count("SELECT count(*) FROM projections.account_entries") == ENTRIES
        assert count(RUNNING_SUMS_OFF) == 0
        assert count(ACCOUNTS_OFF) == 0
        assert count(OWNERS_OFF) == 0
        assert count(CHECKPOINT_OFF) == 0
        indexes = {name for (name,) in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {"account_entries_pkey", "account_entries_business_time_idx", "account_entries_system_time_idx",
            "account_balances_pkey", "customers_pkey", "customer_accounts_pkey"} <= indexes  # fmt: skip


def test_a_short_run_answers_every_request_and_agrees_with_the_database(kept_dataset):
    name, _ = kept_dataset
    options = ApiBenchOptions(
        accounts=ACCOUNTS, entries=ENTRIES, rate=100, seconds=2, warmup_seconds=1, keep=True, database=name
    )
    output = io.StringIO()
    console = Console(file=output, width=160)

    report = run(options, console)
    render(report, console)

    assert report.dataset.reused
    assert report.requests == 200
    for figures in report.endpoints:
        assert figures.sent > 0
        assert figures.sent == figures.answered == figures.ok
        assert figures.latency.count == figures.service.count == figures.sql.count == figures.sent
        assert 0 < figures.sql.p99 and 0 < figures.service.p99 <= figures.latency.p99
    assert not report.failures and not report.sample_error
    assert report.checks.balances > 0 and report.checks.wrong_balances == []
    assert report.checks.pages > 0 and report.checks.wrong_pages == []
    assert "bench api" in output.getvalue() and "agree with the database" in output.getvalue()
