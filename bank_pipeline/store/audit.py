"""Tamper evidence: checks every event's hash, every stream's chain and head, and every digest.

Run by `bank-pipeline audit verify`. Findings are reported in delivery order, so the first one names
the earliest event that was modified, deleted or inserted.
"""

from dataclasses import dataclass, field

import psycopg

from bank_pipeline.store.month_digests import check_published_months

GENESIS = bytes(32)
MAX_FINDINGS = 100


@dataclass(frozen=True)
class Finding:
    kind: str  # modified | deleted | inserted | digest_mismatch | month_digest_mismatch | archive
    message: str
    stream_id: str | None = None
    stream_version: int | None = None
    global_position: int | None = None
    order_key: tuple[int, int] = (0, 0)  # (transaction_id, global_position) for sorting


@dataclass
class AuditReport:
    events_checked: int = 0
    streams_checked: int = 0
    digests_checked: int = 0
    months_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_problem(self) -> Finding | None:
        return self.findings[0] if self.findings else None


# Each event's stored hash against a recomputation from its own fields.
MODIFIED_EVENTS = """
SELECT transaction_id, global_position, stream_id, stream_version
  FROM event_store.events
 WHERE hash <> event_store.event_hash(previous_hash, global_position, stream_id, stream_version, event_type,
                                      schema_version, event_id, occurred_at, recorded_at, payload, metadata)
 ORDER BY transaction_id, global_position LIMIT %(limit)s
"""

# The whole history: the hot events and the archived months' (their rows passed in by the caller, read from the
# archive files after checking each file's sha256), for the checks that need every event of a stream or a range.
ALL_EVENTS = """
WITH all_events AS (
    SELECT transaction_id, global_position, stream_id, stream_version, previous_hash, hash FROM event_store.events
    UNION ALL
    SELECT * FROM unnest(%(archived_transaction_ids)s::bigint[], %(archived_positions)s::bigint[],
                         %(archived_stream_ids)s::text[], %(archived_versions)s::bigint[],
                         %(archived_previous_hashes)s::bytea[], %(archived_hashes)s::bytea[])
)
"""

# Each event against the one before it in its stream: versions consecutive, hashes linked.
BROKEN_LINKS = f"""{ALL_EVENTS}
SELECT transaction_id, global_position, stream_id, stream_version, prior_version,
       previous_hash = coalesce(prior_hash, %(genesis)s) AS linked
  FROM (SELECT transaction_id, global_position, stream_id, stream_version, previous_hash,
               lag(stream_version) OVER w AS prior_version, lag(hash) OVER w AS prior_hash
          FROM all_events
        WINDOW w AS (PARTITION BY stream_id ORDER BY stream_version, global_position)) AS chain
 WHERE stream_version <> coalesce(prior_version, 0) + 1
    OR previous_hash <> coalesce(prior_hash, %(genesis)s)
 ORDER BY transaction_id, global_position LIMIT %(limit)s
"""

# Each stream's recorded head against its last event.
HEAD_MISMATCHES = f"""{ALL_EVENTS}
SELECT s.stream_id, s.version, last.stream_version, last.transaction_id, last.global_position,
       s.last_hash = last.hash AS same_hash
  FROM event_store.streams s
  LEFT JOIN (SELECT DISTINCT ON (stream_id) stream_id, stream_version, hash, transaction_id, global_position
               FROM all_events ORDER BY stream_id, stream_version DESC) last ON last.stream_id = s.stream_id
 WHERE last.stream_version IS DISTINCT FROM s.version OR s.last_hash IS DISTINCT FROM last.hash
 LIMIT %(limit)s
"""

# Each digest recomputed over its range, and its link to the digest before it.
DIGEST_RECOMPUTATION = f"""{ALL_EVENTS}
SELECT d.digest_number, d.after_transaction_id, d.after_position, d.last_transaction_id, d.last_position,
       d.event_count, d.digest, d.previous_digest,
       lag(d.digest) OVER (ORDER BY d.digest_number) AS prior_digest,
       lag(d.last_transaction_id) OVER (ORDER BY d.digest_number) AS prior_last_tx,
       lag(d.last_position) OVER (ORDER BY d.digest_number) AS prior_last_position,
       r.event_count AS actual_count, sha256(d.previous_digest || coalesce(r.hashes, ''::bytea)) AS actual_digest
  FROM event_store.digests d
  CROSS JOIN LATERAL (
        SELECT count(*) AS event_count,
               string_agg(e.hash, ''::bytea ORDER BY e.transaction_id, e.global_position) AS hashes
          FROM all_events e
         WHERE (e.transaction_id, e.global_position) > (d.after_transaction_id, d.after_position)
           AND (e.transaction_id, e.global_position) <= (d.last_transaction_id, d.last_position)) r
 ORDER BY d.digest_number
"""


def verify(conn: psycopg.Connection) -> AuditReport:
    report = AuditReport()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Before the snapshot's first read: an archive committing its drop meanwhile would otherwise leave a month
        # in neither the snapshot's archived_months nor its partitions (its DETACH waits for this lock instead).
        conn.execute("LOCK TABLE event_store.events IN ACCESS SHARE MODE")
        archived = _archived_history(conn, report)
        params = {"limit": MAX_FINDINGS, "genesis": GENESIS, **archived}
        report.events_checked, report.streams_checked = conn.execute(
            "SELECT (SELECT count(*) FROM event_store.events), (SELECT count(*) FROM event_store.streams)"
        ).fetchone()
        report.events_checked += len(archived["archived_hashes"])
        _check_event_hashes(conn, params, report)
        _check_chains(conn, params, report)
        _check_heads(conn, params, report)
        _check_digests(conn, params, report)
        _check_month_digests(conn, report)
    # Findings that name an event come first, in delivery order; digest findings corroborate them.
    report.findings.sort(key=lambda finding: (finding.global_position is None, finding.order_key))
    return report


def _archived_history(conn: psycopg.Connection, report: AuditReport) -> dict[str, list]:
    """Every archived month's events, from files whose sha256 matches what was recorded at archival and whose
    every event hash is recomputed here: a changed, missing or substituted archive file is a finding."""
    import pyarrow.compute as pc

    from bank_pipeline.archive.errors import ArchiveError  # the archive builds on the store: import late
    from bank_pipeline.archive.reading import archived_table
    from bank_pipeline.archive.verify import VerifiedArchive, check_hashes

    # Not archived_tables(): a month whose file is missing or altered is a finding here, and the others still count.
    columns = {"archived_transaction_ids": "transaction_id", "archived_positions": "global_position",
               "archived_stream_ids": "stream_id", "archived_versions": "stream_version",
               "archived_previous_hashes": "previous_hash", "archived_hashes": "hash"}  # fmt: skip
    rows: dict[str, list] = {parameter: [] for parameter in columns}
    for (month,) in conn.execute("SELECT month FROM event_store.archived_months ORDER BY month").fetchall():
        try:
            table = archived_table(conn, month)
            # A purged event's tombstone keeps only its hash (archive/tombstones.py): the digests still cover it.
            check_hashes(VerifiedArchive(month, None, table.filter(pc.is_valid(table.column("stream_id")))))
        except ArchiveError as error:
            report.findings.append(Finding("archive", f"archived month {month:%Y-%m}: {error}"))
            continue
        for parameter, column in columns.items():
            rows[parameter].extend(table.column(column).to_pylist())
    return rows


def _check_month_digests(conn: psycopg.Connection, report: AuditReport) -> None:
    report.months_checked, findings = check_published_months(conn)
    report.findings.extend(Finding("month_digest_mismatch", finding.message) for finding in findings)


def _check_event_hashes(conn: psycopg.Connection, params: dict, report: AuditReport) -> None:
    for tx, position, stream_id, version in conn.execute(MODIFIED_EVENTS, params):
        report.findings.append(
            Finding(
                "modified",
                f"event at position {position} ({stream_id} version {version}) does not match its hash: "
                "its content was changed after it was written",
                stream_id,
                version,
                position,
                (tx, position),
            )
        )


def _check_chains(conn: psycopg.Connection, params: dict, report: AuditReport) -> None:
    for tx, position, stream_id, version, prior_version, linked in conn.execute(BROKEN_LINKS, params):
        where = f"position {position} ({stream_id} version {version})"
        if prior_version is not None and version <= prior_version:
            kind, message = "inserted", f"event at {where} repeats version {version}: an event was inserted"
        elif version != (prior_version or 0) + 1:
            missing = f"{(prior_version or 0) + 1}" + (
                f"..{version - 1}" if version - 1 > (prior_version or 0) + 1 else ""
            )
            kind, message = "deleted", f"{stream_id} is missing version {missing} before {where}: deleted"
        elif not linked:
            kind = "modified"
            message = (
                f"event at {where} does not chain to the event before it: the stream's history was "
                "rewritten (an event before it was modified, removed or inserted)"
            )
        else:  # pragma: no cover - the query only returns rows matching one of the cases above
            continue
        report.findings.append(Finding(kind, message, stream_id, version, position, (tx, position)))


def _check_heads(conn: psycopg.Connection, params: dict, report: AuditReport) -> None:
    for stream_id, head_version, last_version, tx, position, _ in conn.execute(HEAD_MISMATCHES, params):
        if last_version is None or last_version < head_version:
            kind = "deleted"
            message = (
                f"{stream_id} is at version {head_version} but its last stored event is version "
                f"{last_version or 0}: events at the end of the stream were deleted"
            )
        elif last_version > head_version:
            kind = "inserted"
            message = (
                f"{stream_id} is at version {head_version} but holds an event with version {last_version}"
                f" at position {position}: an event was inserted"
            )
        else:
            kind = "modified"
            message = f"{stream_id}'s last event (position {position}) is not the recorded head of its chain"
        order = (tx, position) if tx is not None else (2**63 - 1, 0)
        report.findings.append(Finding(kind, message, stream_id, last_version, position, order))


def _check_digests(conn: psycopg.Connection, params: dict, report: AuditReport) -> None:
    for row in conn.execute(DIGEST_RECOMPUTATION, params):
        (
            number,
            after_tx,
            after_pos,
            last_tx,
            last_pos,
            count,
            digest,
            previous,
            prior_digest,
            prior_last_tx,
            prior_last_pos,
            actual_count,
            actual_digest,
        ) = row
        report.digests_checked += 1
        span = f"digest {number} (after position {after_pos}, through position {last_pos})"
        order = (after_tx, after_pos + 1)
        if prior_digest is not None and (
            bytes(previous) != bytes(prior_digest) or (after_tx, after_pos) != (prior_last_tx, prior_last_pos)
        ):
            report.findings.append(
                Finding("digest_mismatch", f"{span} does not chain to digest {number - 1}", order_key=order)
            )
        elif actual_count != count:
            kind = "deleted" if actual_count < count else "inserted"
            report.findings.append(
                Finding(
                    kind,
                    f"{span} sealed {count} events but {actual_count} are stored: events were {kind}",
                    order_key=order,
                )
            )
        elif bytes(actual_digest) != bytes(digest):
            report.findings.append(
                Finding(
                    "digest_mismatch",
                    f"{span} no longer matches: events in this range were rewritten",
                    order_key=order,
                )
            )
