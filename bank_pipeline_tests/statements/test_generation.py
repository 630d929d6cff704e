"""Generating a period's statements into the store: every format for every account open in it, a manifest, the
same bytes from the same events, a CSV fast path equal to the one-by-one renderer, all-or-nothing replacement of
the previous generation, and a back-dated entry changing exactly the statements it belongs to."""

import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import InconsistentStatement, UnknownStatementFormat
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.statements import generation
from bank_pipeline.statements.csv_bulk import csv_statements, csv_statements_for_period
from bank_pipeline.statements.formats import renderers
from bank_pipeline.statements.formats.camt053 import validate_camt053
from bank_pipeline.statements.formats.csv import render_csv
from bank_pipeline.statements.generation import generate_statements
from bank_pipeline.statements.reading import StatementAccountNotFound, statement_for_account
from bank_pipeline.statements.store import MANIFEST, StatementStore, changed_accounts
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.random_bank import CLOSED
from bank_pipeline_tests.statements.statement_bank import TRICKY, Bank, build_statement_bank, projected_streams

NOVEMBER = StatementPeriod.month(2026, 11)


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_a_month_in_every_format_for_every_account_open_in_it(bank: Bank, conn, tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    report = generate_statements(conn, NOVEMBER, store, ["pdf", "csv", "camt053", "mt940"])

    accounts = sorted(bank.streams)
    manifest = store.read_manifest(NOVEMBER)
    assert [line["account_id"] for line in manifest] == accounts
    assert (report.statements, report.files) == (len(accounts), 4 * len(accounts))
    directory = store.period_directory(NOVEMBER)
    for line in manifest:
        statement = statement_for_account(conn, line["account_id"], NOVEMBER)
        assert line["opening_balance"] + line["credits"] - line["debits"] == line["closing_balance"]
        assert (line["closing_balance"], line["entries"]) == (statement.closing_balance, len(statement.lines))
        files = {name: (directory / entry["path"]).read_bytes() for name, entry in line["files"].items()}
        assert files["csv"] == render_csv(statement)
        assert files["pdf"].startswith(b"%PDF")
        validate_camt053(files["camt053"])
        assert files["mt940"].startswith(b":20:")
        assert all(entry["bytes"] == len(files[name]) for name, entry in line["files"].items())
    assert [p.name for p in (tmp_path / ".generations").iterdir() if p.is_dir()] == [directory.resolve().name]


def test_the_same_events_give_the_same_bytes_in_every_format(bank: Bank, conn, tmp_path: Path) -> None:
    first, second = StatementStore(tmp_path / "a"), StatementStore(tmp_path / "b")
    generate_statements(conn, NOVEMBER, first)
    generate_statements(conn, NOVEMBER, second)
    assert tree(first.period_directory(NOVEMBER)) == tree(second.period_directory(NOVEMBER))


@pytest.mark.parametrize(
    "period",
    [NOVEMBER, StatementPeriod(date(2026, 11, 2), date(2026, 11, 3)), StatementPeriod.month(2026, 1),
     StatementPeriod(date(2026, 10, 30), date(2026, 12, 31))],
    ids=["month", "two-days", "before-anything", "across-months"],
)  # fmt: skip
def test_the_csv_fast_path_makes_the_bytes_render_csv_makes(bank: Bank, conn, period: StatementPeriod) -> None:
    accounts = sorted(bank.streams)
    fast = {s.account.account_id: s for s in csv_statements(conn, accounts, period)}
    assert sorted(fast) == accounts
    for account in accounts:
        statement = statement_for_account(conn, account, period)
        assert fast[account].document == render_csv(statement), account
        assert fast[account].closing_balance == statement.closing_balance
        assert fast[account].generated_at == statement.generated_at
    in_batches = [s.document for batch in csv_statements_for_period(conn, period, batch_size=3) for s in batch]
    assert in_batches == [fast[s.account.account_id].document for batch in
                          csv_statements_for_period(conn, period, batch_size=1_000) for s in batch]  # fmt: skip


def test_csv_carries_awkward_text_intact_and_defuses_formulas(bank: Bank, conn) -> None:
    document = render_csv(statement_for_account(conn, TRICKY, NOVEMBER)).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(document, newline="")))
    entries = [row for row in rows if row["record"] == "entry"]
    assert [row["party"] for row in entries] == [
        'a, "quoted" one', "line\nbreak", "'=SUM(A1:A9)", "'-42", "'@home", "<b>&amp;</b>", "Zürich — 東京 ✓",
    ]  # fmt: skip
    assert rows[0]["party"] == 'Ünïcødé "Ltd", =Co'
    records = ["statement", "opening_balance"] + ["entry"] * 7 + ["closing_balance", "note"]
    assert [row["record"] for row in rows] == records
    assert rows[-1]["text"] == "The account was opened on 2026-11-03, during this period."


def test_generation_is_all_or_nothing(bank: Bank, conn, tmp_path: Path, monkeypatch) -> None:
    store = StatementStore(tmp_path)
    generate_statements(conn, NOVEMBER, store, ["csv", "mt940"])
    before = tree(tmp_path)
    rendered = []

    def failing_mt940(statement):
        rendered.append(statement)
        if len(rendered) == 5:
            raise OSError("disk full")
        return b"x"

    monkeypatch.setattr(generation, "renderers", lambda: {**renderers(), "mt940": failing_mt940})
    with pytest.raises(OSError, match="disk full"):
        generate_statements(conn, NOVEMBER, store, ["csv", "mt940"])
    assert tree(tmp_path) == before
    assert [p.name for p in (tmp_path / ".generations").iterdir() if p.is_dir()] == [
        store.period_directory(NOVEMBER).resolve().name
    ]


def test_chosen_accounts_unknown_accounts_and_unknown_formats(bank: Bank, conn, tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    period = StatementPeriod(date(2026, 11, 1), date(2026, 11, 15))
    report = generate_statements(conn, period, store, ["csv", "camt053"], account_ids=[CLOSED, TRICKY], adhoc=True)
    assert report.directory == tmp_path / "ranges" / "2026-11-01_2026-11-15"
    assert [line["account_id"] for line in store.read_manifest(period, adhoc=True)] == [CLOSED, TRICKY]
    for formats in (["csv"], ["csv", "pdf"]):
        with pytest.raises(StatementAccountNotFound, match="nobody"):
            generate_statements(conn, period, store, formats, account_ids=[TRICKY, "nobody"], adhoc=True)
    with pytest.raises(UnknownStatementFormat, match="docx"):
        generate_statements(conn, period, store, ["csv", "docx"])
    assert (tmp_path / "ranges" / "2026-11-01_2026-11-15" / MANIFEST).exists()


def test_a_back_dated_entry_changes_exactly_the_statements_it_belongs_to(
    server_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    store = StatementStore(tmp_path)
    december = StatementPeriod.month(2026, 12)
    with make_pool(fresh_database_url, max_size=4) as pool, connect(fresh_database_url) as conn:
        handler = CommandHandler(EventStore(pool))
        build_statement_bank(handler)
        streams = projected_streams(pool)
        generate_statements(conn, NOVEMBER, store, ["csv", "pdf"])
        generate_statements(conn, december, store, ["csv", "pdf"])
        november_before, december_before = store.read_manifest(NOVEMBER), store.read_manifest(december)

        account = TRICKY
        late_but_back_dated = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        handler.execute(
            c.CreditAccount(account, 777, "EUR", f"late-{uuid.uuid4().hex[:6]}", "Refund", "back-dated"),
            occurred_at=late_but_back_dated,
        )
        projected_streams(pool)
        generate_statements(conn, NOVEMBER, store, ["csv", "pdf"])
        generate_statements(conn, december, store, ["csv", "pdf"])

    november_after, december_after = store.read_manifest(NOVEMBER), store.read_manifest(december)
    assert changed_accounts(november_before, november_after) == [account]
    assert changed_accounts(december_before, december_after) == [account]
    closing = {line["account_id"]: line["closing_balance"] for line in november_after}
    opening = {line["account_id"]: line["opening_balance"] for line in december_after}
    assert all(opening[a] == closing[a] for a in opening)
    before = {line["account_id"]: line for line in november_before}
    assert closing[account] == before[account]["closing_balance"] + 777
    assert len(streams) == len(november_after)


def test_a_regeneration_replaces_the_link_and_sweeps_what_killed_runs_left(bank: Bank, conn, tmp_path: Path) -> None:
    store = StatementStore(tmp_path)
    generate_statements(conn, NOVEMBER, store, ["mt940"])
    link = store.period_directory(NOVEMBER)
    first = link.resolve()
    assert link.is_symlink() and first.parent.name == ".generations"
    killed = tmp_path / ".generations" / "2026-11.0123456789ab"  # a run killed halfway through
    (killed / "mt940").mkdir(parents=True)

    generate_statements(conn, NOVEMBER, store, ["mt940"])
    second = link.resolve()
    assert second != first and not first.exists() and not killed.exists()
    assert sorted(p.name for p in (tmp_path / ".generations").iterdir() if p.is_dir()) == [second.name]


def test_file_names_keep_account_ids_apart() -> None:
    from bank_pipeline.statements.store import file_name
    from bank_pipeline_tests.statements.samples import empty_statement

    names = {file_name(empty_statement(account_id=account_id), "csv") for account_id in ("a:b", "a_b", "a/b", "a%3Ab")}
    assert len(names) == 4
    assert all("/" not in name for name in names)


def test_the_same_bytes_in_another_process_time_zone_hash_seed_and_batch_size(bank: Bank, conn, tmp_path: Path) -> None:
    here = StatementStore(tmp_path / "here")
    generate_statements(conn, NOVEMBER, here)
    script = (
        "import sys; from pathlib import Path; from bank_pipeline.db.connection import connect; "
        "from bank_pipeline.domain.statements import StatementPeriod; "
        "from bank_pipeline.statements.generation import generate_statements; "
        "from bank_pipeline.statements.store import StatementStore; "
        "conn = connect(sys.argv[1]); "
        "generate_statements(conn, StatementPeriod.month(2026, 11), StatementStore(Path(sys.argv[2])), batch_size=3)"
    )
    environment = {**os.environ, "TZ": "Pacific/Kiritimati", "PYTHONHASHSEED": "12345", "LC_ALL": "C"}
    subprocess.run([sys.executable, "-c", script, bank.url, str(tmp_path / "there")], env=environment, check=True)
    there = StatementStore(tmp_path / "there")
    assert tree(here.period_directory(NOVEMBER)) == tree(there.period_directory(NOVEMBER))


def test_a_read_model_that_disagrees_with_itself_is_refused_and_nothing_is_written(
    server_url: str, fresh_database_url: str, tmp_path: Path
) -> None:
    store = StatementStore(tmp_path)
    with make_pool(fresh_database_url, max_size=4) as pool, connect(fresh_database_url) as conn:
        build_statement_bank(CommandHandler(EventStore(pool)))
        projected_streams(pool)
        generate_statements(conn, NOVEMBER, store, ["csv"])
        before = tree(tmp_path)
        # A running balance that no longer follows from the entry before it (the projections are not
        # append-only: this is what a projection bug would look like).
        conn.execute(
            "UPDATE projections.account_entries SET business_balance = business_balance + 1 "
            "WHERE account_id = %s AND stream_version = 5",
            (TRICKY,),
        )
        for formats in (["csv"], ["csv", "mt940"]):  # the column-wise path and the one-by-one path
            with pytest.raises(InconsistentStatement, match=TRICKY):
                generate_statements(conn, NOVEMBER, store, formats)
        with pytest.raises(InconsistentStatement, match=TRICKY):
            statement_for_account(conn, TRICKY, NOVEMBER)
        conn.execute(
            "UPDATE projections.account_entries SET business_balance = business_balance - 1 "
            "WHERE account_id = %s AND stream_version = 5",
            (TRICKY,),
        )
        # Daily balances that disagree with the entries' running balances.
        conn.execute(
            "UPDATE projections.daily_balances SET closing_balance = closing_balance + 7, credits = credits + 7 "
            "WHERE account_id = %s AND business_day = '2026-11-03'",
            (TRICKY,),
        )
        for formats in (["csv"], ["pdf"]):
            with pytest.raises(InconsistentStatement, match="the daily balances say"):
                generate_statements(conn, NOVEMBER, store, formats)
    assert tree(tmp_path) == before
