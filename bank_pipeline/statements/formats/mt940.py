"""SWIFT MT940 customer statement, the bank-download variant: one message per statement, no SWIFT envelope.

Fields: :20: reference, :25: account, :28C: statement number, :60F: opening balance, per entry a :61: line and its
:86: details, :62F: closing balance, :64: closing available balance (closing minus pending holds), and a final
:86: with the notes and pending holds, if any. Every text is reduced to the SWIFT X character set, cut to its field
length, and written with CRLF line endings.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
import unicodedata
from datetime import date

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement, StatementLine

#: Details (:86:) are at most 6 lines of 65 characters.
DETAIL_LINES = 6
DETAIL_WIDTH = 65

# Characters outside the X set that have a close X equivalent (after NFKD has split off the accents).
_TRANSLITERATIONS = str.maketrans(
    {
        "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l",
        "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th", "&": "+", "<": "(", ">": ")", "[": "(", "]": ")", "{": "(",
        "}": ")", '"': "'", "`": "'", "‘": "'", "’": "'", "“": "'", "”": "'", "–": "-", "—": "-", "_": "-",
        ";": ",", "!": ".", "\\": "/",
    }
)  # fmt: skip
_NOT_X = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def render_mt940(statement: Statement) -> bytes:
    currency = statement.account.currency
    closing_available = statement.closing_balance - statement.pending_hold_total
    fields: list[tuple[str, list[str]]] = [
        ("20", [_transaction_reference(statement)]),
        ("25", [_clip(swift_text(statement.account.account_id), 35) or "NOTPROVIDED"]),
        # 5n: only the last five digits fit (month 100000 of an account is some 8,000 years away).
        ("28C", [str(statement.sequence_number % 100_000)]),
        ("60F", [_balance(statement.opening_balance, statement.period.first_day, currency)]),
    ]
    for line in statement.lines:
        fields.append(("61", [_statement_line(line, currency)]))
        fields.append(("86", _entry_details(line)))
    fields.append(("62F", [_balance(statement.closing_balance, statement.period.last_day, currency)]))
    fields.append(("64", [_balance(closing_available, statement.period.last_day, currency)]))
    if information := _owner_information(statement, closing_available):
        fields.append(("86", information))

    text_lines = []
    for tag, (first, *rest) in fields:
        text_lines.append(f":{tag}:{first}")
        text_lines.extend(rest)
    text_lines.append("-")
    return ("\r\n".join(text_lines) + "\r\n").encode("ascii")


def swift_text(value: str | None) -> str:
    """`value` in the SWIFT X character set, on one line: accents dropped, look-alikes substituted, the rest removed."""
    if not value:
        return ""
    if value.isascii() and not _NOT_X.search(value):
        return " ".join(value.split())
    decomposed = unicodedata.normalize("NFKD", value).translate(_TRANSLITERATIONS)
    return " ".join(_NOT_X.sub("", " ".join(decomposed.split())).split())


def _transaction_reference(statement: Statement) -> str:
    """16x: the period's first day and a digest of the statement id, e.g. S260101-1A2B3C4D."""
    digest = hashlib.sha256(statement.statement_id.encode("utf-8", "surrogatepass")).hexdigest()[:8].upper()
    return f"S{statement.period.first_day:%y%m%d}-{digest}"


def _balance(amount: int, day: date, currency: str) -> str:
    return f"{_mark(amount)}{day:%y%m%d}{currency}{_amount(abs(amount), currency)}"


def _statement_line(line: StatementLine, currency: str) -> str:
    mark = "C" if line.direction == "credit" else "D"
    amount = _amount(line.amount, currency)
    references = f"{_customer_reference(line.reference)}//{_bank_reference(line.global_position)}"
    return f"{line.value_date:%y%m%d}{line.booking_date:%m%d}{mark}{amount}NTRF{references}"


def _customer_reference(reference: str | None) -> str:
    # A reference subfield may not start or end with '/' nor contain '//' (which would start the bank reference).
    cleaned = re.sub("/+", "/", swift_text(reference))
    return _clip(cleaned.strip("/ "), 16).strip("/ ") or "NONREF"


def _bank_reference(global_position: int) -> str:
    reference = f"POS-{global_position}"
    return reference if len(reference) <= 16 else str(global_position)[-16:]


def _entry_details(line: StatementLine) -> list[str]:
    transfer = f"{line.flow.capitalize()} transfer {line.transfer_id}"
    counterparty, reference = swift_text(line.counterparty), swift_text(line.reference)
    return _detail_lines(
        swift_text(transfer),
        f"Counterparty {counterparty}" if counterparty else "",
        f"Reference {reference}" if reference else "",
    )


def _owner_information(statement: Statement, closing_available: int) -> list[str]:
    currency = statement.account.currency
    paragraphs = [swift_text(note) for note in statement.notes()]
    if statement.pending_holds:
        total = format_amount(statement.pending_hold_total, currency)
        available = format_amount(closing_available, currency)
        paragraphs.append(
            f"Pending holds {len(statement.pending_holds)}, total {total} {currency}, "
            f"closing available {available} {currency}:"
        )
        paragraphs.extend(
            swift_text(f"{hold.hold_id} {format_amount(hold.amount, currency)} {hold.reason}")
            for hold in statement.pending_holds
        )
    return _detail_lines(*paragraphs)


def _detail_lines(*paragraphs: str) -> list[str]:
    """At most 6 lines of at most 65 characters, each paragraph starting on a new line."""
    lines: list[str] = []
    for paragraph in filter(None, paragraphs):
        # Wrapped one short so that a line starting with ':' or '-' (a tag or the message end, to a reader) can
        # be shifted right by a space and still fit. textwrap is slow, and most paragraphs fit on one line.
        if len(paragraph) < DETAIL_WIDTH:
            lines.append(paragraph)
        else:
            lines.extend(textwrap.wrap(paragraph, DETAIL_WIDTH - 1, break_on_hyphens=False))
    return [f" {line}" if line.startswith((":", "-")) else line for line in lines[:DETAIL_LINES]]


def _amount(minor_units: int, currency: str) -> str:
    """15d: decimal comma, always present (1234, for a currency without minor units)."""
    text = format_amount(minor_units, currency)
    return text.replace(".", ",") if "." in text else f"{text},"


def _mark(amount: int) -> str:
    return "D" if amount < 0 else "C"


def _clip(text: str, limit: int) -> str:
    return text[:limit].rstrip()
