"""Month digests keep working once their month has moved to the archive: verify recomputes the root from the
Parquet file, proofs are still given, and the auditor's script in docs/audit-digests.md gives the published root
from the archive alone."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bank_pipeline.archive.months import add_months
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.domain.merkle import root_from_inclusion_proof
from bank_pipeline.store import NewEvent
from bank_pipeline.store.audit import verify
from bank_pipeline.store.month_digests import (
    CLOSING_GRACE,
    month_bounds,
    month_of,
    prove_inclusion,
    publish_due_months,
    published_months,
)

THIS_MONTH = month_of(datetime.now(UTC))
PROCEDURE = Path(__file__).parents[2] / "docs" / "audit-digests.md"


def test_a_published_month_still_verifies_and_proves_from_the_archive(fresh_store, tmp_path):
    fresh_store.append([NewEvent("acct-a", "Opened", {"n": 1}), NewEvent("acct-b", "Opened", {"n": 1})])
    for amount in (10, 20, 30):
        fresh_store.append([NewEvent("acct-a", "Credited", {"amount": amount})])
    fresh_store.seal_digest()  # a sealed range digest over events that will move to the archive
    fresh_store.append([NewEvent("acct-b", "Credited", {"amount": 5})])
    events = fresh_store.read_all(limit=100)
    store = ArchiveStore(str(tmp_path / "archive"))
    with fresh_store.pool.connection() as conn:
        [digest] = publish_due_months(conn, month_bounds(THIS_MONTH)[1] + CLOSING_GRACE)
        later = datetime.combine(add_months(THIS_MONTH, 15), datetime.min.time(), UTC) + timedelta(days=1)
        archive_month(conn, store, THIS_MONTH, now=later, hot_months=13)
        assert conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0] == 0  # the month is cold now

        report = verify(conn)  # chains, heads and the range digest span the archive; the month digest is recomputed
        assert report.ok, report.findings
        assert (report.events_checked, report.months_checked, report.digests_checked) == (6, 1, 1)
        proof = prove_inclusion(conn, events[2].global_position)
        assert root_from_inclusion_proof(proof.event_hash, proof.index, proof.tree_size, proof.path) == (
            digest.merkle_root
        )
        [(parquet_uri,)] = conn.execute("SELECT parquet_uri FROM event_store.archived_months").fetchall()
        [(manifest_uri,)] = conn.execute("SELECT manifest_uri FROM event_store.archived_months").fetchall()
        assert published_months(conn) == [digest]

    script = re.search(r"```python\n(.*?)```", PROCEDURE.read_text(), re.DOTALL).group(1)
    local = [uri.removeprefix("file://") for uri in (parquet_uri, manifest_uri)]
    checked = subprocess.run(
        [sys.executable, "-c", script, *local, digest.merkle_root.hex()], capture_output=True, text=True, check=True
    )
    assert checked.stdout.strip() == f"6 events, root {digest.merkle_root.hex()} MATCHES"

    archived_file = Path(local[0])
    data = bytearray(archived_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archived_file.write_bytes(bytes(data))
    with fresh_store.pool.connection() as conn:
        findings = verify(conn).findings
    assert findings and findings[0].kind == "archive" and "does not match its recorded sha256" in findings[0].message
