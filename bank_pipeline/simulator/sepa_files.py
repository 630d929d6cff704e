"""A day's SEPA files: the pain.001 of the outbound transfers our customers asked for, and the camt.054 with the
inbound transfers to them (CRDT) and the clearing house's outcome of yesterday's outbound ones (DBIT)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

import numpy as np
import polars as pl

from bank_pipeline.simulator import names
from bank_pipeline.simulator.batches import RecordNumbers
from bank_pipeline.simulator.clock import DayClock, local_text
from bank_pipeline.simulator.defects import (
    DUPLICATE_ROW,
    NON_POSITIVE_AMOUNT,
    OTHER_CURRENCY,
    UNKNOWN_ACCOUNT,
    WRONG_CURRENCY,
    Defects,
)
from bank_pipeline.simulator.ibans import OUR_BANK_NAME, OUR_BIC
from bank_pipeline.simulator.landing_writer import LandingWriter
from bank_pipeline.simulator.population import Population
from bank_pipeline.simulator.profile import CURRENCIES
from bank_pipeline.simulator.sepa_xml import (
    Camt054Header,
    Notification,
    OutboundTransfer,
    Pain001Header,
    camt054,
    pain001,
    xml_escaped,
)

XML_ROW_DEFECTS = (UNKNOWN_ACCOUNT, WRONG_CURRENCY, NON_POSITIVE_AMOUNT, DUPLICATE_ROW)
NOT_PROVIDED_SHARE = 0.1  # inbound transfers whose sender gave no end-to-end id
_TRANSFER_FIELDS = ("debtor_iban", "debtor_name", "end_to_end_id", "amount", "currency", "creditor_name",
                    "creditor_iban", "remittance")  # fmt: skip
_NOTIFICATION_FIELDS = ("account_iban", "account_currency", "servicer_reference", "credit", "amount", "currency",
                        "booked_at", "end_to_end_id", "party_name", "party_iban", "remittance", "return_reason",
                        "return_text")  # fmt: skip


@dataclass(frozen=True)
class OutsideParties:
    """People and companies at other banks: a name and an IBAN each."""

    names: pl.Series
    ibans: pl.Series

    @classmethod
    def make(cls, ibans: pl.Series, rng: np.random.Generator) -> "OutsideParties":
        count = len(ibans)
        people = (
            pl.Series(names.FIRST_NAMES).gather(rng.integers(0, len(names.FIRST_NAMES), count))
            + " "
            + pl.Series(names.LAST_NAMES).gather(rng.integers(0, len(names.LAST_NAMES), count))
        )
        companies = pl.Series(names.EMPLOYERS + names.BILLERS)
        company = companies.gather(rng.integers(0, len(companies), count))
        return cls(people.zip_with(pl.Series(rng.random(count) < 0.8), company).rename("name"), ibans)


def write_pain001(
    transfers: pl.DataFrame,
    population: Population,
    outside: OutsideParties,
    clock: DayClock,
    run_tag: str,
    writer: LandingWriter,
    defects: Defects,
) -> pl.DataFrame:
    """Write the day's pain.001 from its kept SEPA_OUT rows (in booking order); returns them with their
    EndToEndIds and texts, for tomorrow's outcomes and the fraud labels."""
    numbers = RecordNumbers("E2E", clock, _id_width(transfers.height))
    account = transfers["account"].to_numpy()
    party = transfers["party"].to_numpy()
    made = transfers.select("account", "seconds", "pattern", "subject").with_columns(
        debtor_iban=population.iban.gather(account),
        debtor_name=population.holder_name.gather(account),
        end_to_end_id=numbers.take(transfers.height),
        amount=transfers["amount"],
        currency=pl.Series(CURRENCIES).gather(population.currency[account].astype(np.int64)),
        creditor_name=outside.names.gather(party),
        creditor_iban=outside.ibans.gather(party),
        remittance=pl.Series(names.SEPA_MEMOS).gather(transfers["memo"].to_numpy()),
    )
    escaped = made.select(_TRANSFER_FIELDS).with_columns(
        xml_escaped(pl.col(column)) for column in ("debtor_name", "creditor_name", "remittance")
    )
    rows = list(map(OutboundTransfer._make, escaped.iter_rows()))
    name = writer.next_name("pain001", 1, clock.day, "xml")

    spoiled = partial(_bad_twin, id_field="end_to_end_id", next_id=numbers.one, account_field="debtor_iban")
    rows = _with_bad_rows(rows, name, defects, spoiled, lambda row: row.end_to_end_id)
    if not rows:
        return made  # nothing to send: no file
    header = Pain001Header(
        message_id=f"PAIN001-{clock.compact}-{run_tag}",
        created_at=clock.local_text(22),
        initiating_party=OUR_BANK_NAME,
        execution_date=(clock.day + timedelta(days=1)).isoformat(),
        debtor_bic=OUR_BIC,
        payment_id_prefix=f"PMT{clock.compact}-",
    )
    writer.write(writer.reserve("pain001", 1, clock.day, "xml"), "pain001", pain001(header, rows), records=len(rows))
    return made


def write_camt054(
    inbound: pl.DataFrame,
    outcomes: pl.DataFrame,
    population: Population,
    outside: OutsideParties,
    clock: DayClock,
    run_tag: str,
    writer: LandingWriter,
    defects: Defects,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Write the day's camt.054: `inbound` (kept SEPA_IN rows) as CRDT entries, `outcomes` (yesterday's transfers
    from write_pain001, with columns rejected, seconds and reason) as DBIT entries. Returns the entries with their
    AcctSvcrRef as record_id, for the fraud labels."""
    party = inbound["party"].to_numpy()
    not_provided = pl.Series(rng.random(inbound.height) < NOT_PROVIDED_SHARE)
    sender_ids = pl.concat_str(pl.lit(f"EXT{clock.compact}-"), pl.int_range(1, inbound.height + 1).cast(pl.String))
    credits = inbound.select(
        "account", "seconds", "amount", "pattern", "subject",
        credit=pl.lit(True),
        party_name=outside.names.gather(party),
        party_iban=outside.ibans.gather(party),
        end_to_end_id=pl.when(not_provided).then(pl.lit("NOTPROVIDED")).otherwise(sender_ids),
        remittance=pl.Series(names.SEPA_MEMOS).gather(inbound["memo"].to_numpy()),
        return_reason=pl.lit(None, pl.String),
        return_text=pl.lit(None, pl.String),
    )  # fmt: skip
    reasons = pl.Series([code for code, _ in names.RETURN_REASONS])
    texts = pl.Series([text for _, text in names.RETURN_REASONS])
    debits = outcomes.select(
        "account", "seconds", "amount",
        pattern=pl.lit(-1, pl.Int8),
        subject=pl.lit(-1, pl.Int32),
        credit=pl.lit(False),
        party_name="creditor_name",
        party_iban="creditor_iban",
        end_to_end_id="end_to_end_id",
        remittance="remittance",
        return_reason=pl.when(pl.col("rejected")).then(reasons.gather(outcomes["reason"].to_numpy())),
        return_text=pl.when(pl.col("rejected")).then(texts.gather(outcomes["reason"].to_numpy())),
    )  # fmt: skip
    entries = pl.concat([credits, debits]).sort("account", "seconds", maintain_order=True)
    account = entries["account"].to_numpy()
    numbers = RecordNumbers("ASR", clock, _id_width(entries.height))
    entries = entries.with_columns(
        record_id=numbers.take(entries.height),
        account_iban=population.iban.gather(account),
        account_currency=pl.Series(CURRENCIES).gather(population.currency[account].astype(np.int64)),
        booked_at=local_text(clock.instants(pl.col("seconds"))),
    ).with_columns(currency=pl.col("account_currency"), servicer_reference=pl.col("record_id"))
    escaped = entries.select(_NOTIFICATION_FIELDS).with_columns(
        xml_escaped(pl.col(column)) for column in ("party_name", "remittance", "return_text")
    )
    rows = list(map(Notification._make, escaped.iter_rows()))
    name = writer.next_name("camt054", 1, clock.day, "xml")

    spoiled = partial(_bad_twin, id_field="servicer_reference", next_id=numbers.one, account_field="account_iban")
    # Only inbound credits get bad twins: a DBIT names a transfer of ours, which upstream would not garble.
    rows = _with_bad_rows(rows, name, defects, spoiled, lambda row: row.servicer_reference, lambda row: row.credit)
    if not rows:
        return entries
    header = Camt054Header(
        message_id=f"CAMT054-{clock.compact}-{run_tag}",
        created_at=clock.local_text(23, 30),
        notification_id_prefix=f"NTF{clock.compact}-",
    )
    writer.write(writer.reserve("camt054", 1, clock.day, "xml"), "camt054", camt054(header, rows), records=len(rows))
    return entries


SepaRow = TypeVar("SepaRow", OutboundTransfer, Notification)


def _bad_twin(
    template: SepaRow, defect: str, iban: str, *, id_field: str, next_id: Callable[[], str], account_field: str
) -> SepaRow:
    """A SEPA record with `defect`: the same record again, or a new id (`id_field`) with an unknown account, the
    wrong currency or a zero amount (the schemas allow no negative amounts)."""
    changed = template if defect == DUPLICATE_ROW else template._replace(**{id_field: next_id()})
    if defect == UNKNOWN_ACCOUNT:
        return changed._replace(**{account_field: iban})
    if defect == WRONG_CURRENCY:
        return changed._replace(currency=OTHER_CURRENCY[changed.currency])
    if defect == NON_POSITIVE_AMOUNT:
        return changed._replace(amount=0)
    return changed


def _id_width(count: int) -> int:
    """Digits of a day's ids: 6 at least, room for the bad twins."""
    return max(6, len(str(count * 2)))


def _with_bad_rows(rows: list, file: str, defects: Defects, spoiled, record_id, eligible=lambda row: True) -> list:
    """`rows` with their share of bad twins: each right after its template, except unknown accounts, which come
    last (an account of their own, so the messages keep one block per account)."""
    candidates = [index for index, row in enumerate(rows) if eligible(row)]
    count = defects.bad_count(len(candidates), file.split("_", 1)[0])
    if count == 0 or not candidates:
        return rows
    templates = sorted(candidates[i] for i in defects.rng.integers(0, len(candidates), count).tolist())
    kinds = defects.kinds(count, XML_ROW_DEFECTS, "xml")
    unknown_ibans = iter(defects.unknown_ibans(kinds.count(UNKNOWN_ACCOUNT)))
    after: dict[int, list] = {}
    last = []
    recorded_ids, recorded_defects = [], []
    for template, defect in zip(templates, kinds, strict=True):
        bad = spoiled(rows[template], defect, next(unknown_ibans) if defect == UNKNOWN_ACCOUNT else "")
        (last if defect == UNKNOWN_ACCOUNT else after.setdefault(template, [])).append(bad)
        recorded_ids.append(record_id(bad))
        recorded_defects.append(defect)
    defects.record(file, recorded_ids, pl.Series(recorded_defects, dtype=pl.String))
    result = []
    for index, row in enumerate(rows):
        result.append(row)
        result.extend(after.get(index, ()))
    return result + last
