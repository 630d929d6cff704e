"""ISO 20022 camt.053.001.08 (BankToCustomerStatement): one statement per document, built with lxml.

Balances carry a non-negative amount and a CRDT/DBIT indicator; entries are booked (BOOK) in business-time order.
An entry's counterparty is the debtor of a credit and the creditor of a debit: its account if it is a valid IBAN,
else its name.
Every text is cut to its schema length and stripped of characters XML 1.0 cannot carry, so any `Statement`
renders to a document that validates against the vendored XSD (`validate_camt053`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources

from lxml import etree
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement, StatementLine
from bank_pipeline.statements.issuer import BANK

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
SCHEMA_FILE = "camt.053.001.08.xsd"

# Everything outside XML 1.0's Char production (controls, surrogates, U+FFFE/U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_IDENTIFIER_CHAR = re.compile(r"[^A-Za-z0-9._:/-]")
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class InvalidCamt053Document(ValueError):
    """A document that is not well-formed XML or breaks the camt.053.001.08 schema."""

    code = "invalid_camt053_document"


def render_camt053(statement: Statement) -> bytes:
    document = etree.Element(_tag("Document"), nsmap={None: NAMESPACE})
    message = _add(document, "BkToCstmrStmt")
    header = _add(message, "GrpHdr")
    _add(header, "MsgId", _identifier(statement.statement_id))
    _add(header, "CreDtTm", _datetime(statement.generated_at))
    _add_statement(_add(message, "Stmt"), statement)
    return _DECLARATION + etree.tostring(document, encoding="UTF-8", pretty_print=True)


def validate_camt053(document: bytes) -> None:
    """Raise `InvalidCamt053Document` naming the first violation, if `document` is not a valid camt.053.001.08."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise InvalidCamt053Document(f"camt.053 document is not well-formed XML: {error}") from None
    try:
        _schema().assertValid(tree)
    except etree.DocumentInvalid as invalid:
        first = invalid.error_log[0] if invalid.error_log else None
        where = f"line {first.line}: {first.message}" if first else str(invalid)
        raise InvalidCamt053Document(f"camt.053 document breaks {SCHEMA_FILE} at {where}") from None


@cache
def _schema() -> etree.XMLSchema:
    source = resources.files("bank_pipeline.statements.formats").joinpath("schemas", SCHEMA_FILE).read_bytes()
    return etree.XMLSchema(etree.fromstring(source))


def _add_statement(stmt: etree._Element, statement: Statement) -> None:
    account, period, currency = statement.account, statement.period, statement.account.currency
    _add(stmt, "Id", _identifier(statement.statement_id))
    _add(stmt, "ElctrncSeqNb", str(statement.sequence_number))
    _add(stmt, "CreDtTm", _datetime(statement.generated_at))
    period_element = _add(stmt, "FrToDt")
    _add(period_element, "FrDtTm", _datetime(period.start))
    _add(period_element, "ToDtTm", _datetime(period.end - timedelta(seconds=1)))

    acct = _add(stmt, "Acct")
    _add_account_id(_add(acct, "Id"), account.account_id)
    _add(acct, "Ccy", currency)
    if owner := _text(account.customer_name, 140):
        _add(_add(acct, "Ownr"), "Nm", owner)
    institution = _add(_add(acct, "Svcr"), "FinInstnId")
    _add(institution, "BICFI", BANK.bic)
    _add(institution, "Nm", BANK.name)

    closing_available = statement.closing_balance - statement.pending_hold_total
    _add_balance(stmt, "OPBD", statement.opening_balance, currency, period.first_day)
    _add_balance(stmt, "CLBD", statement.closing_balance, currency, period.last_day)
    _add_balance(stmt, "CLAV", closing_available, currency, period.last_day)

    summary = _add(stmt, "TxsSummry")
    totals = _add(summary, "TtlNtries")
    _add(totals, "NbOfNtries", str(len(statement.lines)))
    _add(totals, "Sum", format_amount(statement.credits + statement.debits, currency))
    net = _add(totals, "TtlNetNtry")
    _add(net, "Amt", format_amount(abs(statement.credits - statement.debits), currency))
    _add(net, "CdtDbtInd", _direction(statement.credits - statement.debits))
    for element, count, total in (
        ("TtlCdtNtries", statement.credit_count, statement.credits),
        ("TtlDbtNtries", statement.debit_count, statement.debits),
    ):
        subtotal = _add(summary, element)
        _add(subtotal, "NbOfNtries", str(count))
        _add(subtotal, "Sum", format_amount(total, currency))

    for line in statement.lines:
        _add_entry(_add(stmt, "Ntry"), line, currency)

    if information := _additional_information(statement, closing_available):
        _add(stmt, "AddtlStmtInf", information)


def _add_balance(stmt: etree._Element, type_code: str, amount: int, currency: str, day: date) -> None:
    balance = _add(stmt, "Bal")
    _add(_add(_add(balance, "Tp"), "CdOrPrtry"), "Cd", type_code)
    _add(balance, "Amt", format_amount(abs(amount), currency), Ccy=currency)
    _add(balance, "CdtDbtInd", _direction(amount))
    _add(_add(balance, "Dt"), "Dt", day.isoformat())


def _add_entry(entry: etree._Element, line: StatementLine, currency: str) -> None:
    _add(entry, "Amt", format_amount(line.amount, currency), Ccy=currency)
    _add(entry, "CdtDbtInd", _indicator(line))
    _add(_add(entry, "Sts"), "Cd", "BOOK")
    _add(_add(entry, "BookgDt"), "Dt", line.booking_date.isoformat())
    _add(_add(entry, "ValDt"), "Dt", line.value_date.isoformat())
    # The global position identifies the entry itself; a transfer id may repeat (a debit and its reversal).
    _add(entry, "AcctSvcrRef", f"POS-{line.global_position}")

    code = _add(entry, "BkTxCd")
    domain = _add(code, "Domn")
    _add(domain, "Cd", "PMNT")
    family = _add(domain, "Fmly")
    _add(family, "Cd", "RCDT" if line.direction == "credit" else "ICDT")
    _add(family, "SubFmlyCd", "BOOK" if line.flow == "internal" else "OTHR")
    proprietary = _add(code, "Prtry")
    _add(proprietary, "Cd", _text(f"{line.flow.upper()}-TRANSFER", 35) or "TRANSFER")
    _add(proprietary, "Issr", _text(BANK.name, 35))

    _add_transaction_details(_add(_add(entry, "NtryDtls"), "TxDtls"), line, currency)
    transfer_id = _text(line.transfer_id, 400) or ""
    _add(entry, "AddtlNtryInf", _text(f"{line.flow.capitalize()} transfer {transfer_id}", 500))


def _add_transaction_details(details: etree._Element, line: StatementLine, currency: str) -> None:
    reference = _text(line.reference, 140)
    transfer_id = _text(line.transfer_id, 35)
    references = _add(details, "Refs")
    _add(references, "EndToEndId", _text(reference, 35) or "NOTPROVIDED")
    if transfer_id == line.transfer_id:  # only a whole id: a cut one would name another transfer
        _add(references, "TxId", transfer_id)
    _add(details, "Amt", format_amount(line.amount, currency), Ccy=currency)
    _add(details, "CdtDbtInd", _indicator(line))
    if counterparty := _text(line.counterparty, 500):
        # The counterparty paid us on a credit and was paid on a debit. An IBAN names its account; anything else
        # (a name, or an id that is no IBAN) is its name: as an account number, a bank importer would misread it.
        role = "Dbtr" if line.direction == "credit" else "Cdtr"
        parties = _add(details, "RltdPties")
        if iban := _valid_iban(counterparty):
            _add(_add(_add(parties, f"{role}Acct"), "Id"), "IBAN", iban)
        else:
            _add(_add(_add(parties, role), "Pty"), "Nm", _text(counterparty, 140))
    if reference:
        _add(_add(details, "RmtInf"), "Ustrd", reference)


def _add_account_id(identification: etree._Element, account_id: str) -> None:
    if iban := _valid_iban(account_id):
        _add(identification, "IBAN", iban)
    else:
        _add(_add(identification, "Othr"), "Id", _text(account_id, 34) or "NOTPROVIDED")


def _additional_information(statement: Statement, closing_available: int) -> str | None:
    """The notes and the pending holds, for AddtlStmtInf (at most 500 characters)."""
    currency = statement.account.currency

    def money(amount: int) -> str:
        return f"{format_amount(amount, currency)} {currency}"

    parts = list(statement.notes())
    if statement.pending_holds:
        holds = "; ".join(
            f"{hold.hold_id} {money(hold.amount)} {hold.reason}".rstrip()
            + f" (placed {hold.placed_on}, expires {hold.expires_at.date()})"
            for hold in statement.pending_holds
        )
        parts.append(
            f"Pending holds: {len(statement.pending_holds)}, total {money(statement.pending_hold_total)}; "
            f"closing available balance {money(closing_available)}: {holds}."
        )
    return _text(" ".join(parts), 500, ellipsis=True)


@lru_cache(maxsize=4096)
def _valid_iban(text: str) -> str | None:
    """The IBAN in its compact form if `text` is a valid one, else None."""
    try:
        return IBAN(text).compact
    except (SchwiftyException, ValueError, TypeError):
        return None


def _text(value: str | None, limit: int, *, ellipsis: bool = False) -> str | None:
    """XML-safe single-line text of at most `limit` characters, or None if nothing printable is left."""
    if value is None:
        return None
    cleaned = " ".join(_NOT_XML_CHAR.sub("", value).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 3].rstrip() + "..." if ellipsis else cleaned[:limit].rstrip()
    return cleaned or None


def _identifier(text: str, limit: int = 35) -> str:
    """`text` when it is a short plain identifier; otherwise a readable prefix plus a hash, so it stays unique."""
    if len(text) <= limit and not _NOT_IDENTIFIER_CHAR.search(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    prefix = _NOT_IDENTIFIER_CHAR.sub("", text)[: limit - len(digest) - 1]
    return f"{prefix}-{digest}" if prefix else digest


def _indicator(line: StatementLine) -> str:
    return "CRDT" if line.direction == "credit" else "DBIT"


def _direction(amount: int) -> str:
    return "DBIT" if amount < 0 else "CRDT"


def _datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    child = etree.SubElement(parent, _tag(name), attributes)
    if text is not None:
        child.text = text
    return child
