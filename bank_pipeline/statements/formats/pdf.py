"""The account statement as an A4 PDF, drawn with the ReportLab canvas.

The body is a list of fixed-height blocks (table rows, section titles) split into pages before anything is drawn,
so every footer can say "Page N of M" and a table's column header repeats at the top of each page it spans.

Text uses the standard Helvetica fonts: nothing is embedded, which keeps rendering fast and files small, but they
draw only the Windows-1252 repertoire. Other characters become their unaccented form if that is drawable, else "?".

Deterministic: invariant mode, and all metadata, the creation date included, comes from the statement.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement
from bank_pipeline.statements.formats.pdf_chart import draw_balance_chart
from bank_pipeline.statements.issuer import BANK

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT, TOP = 36.0, PAGE_WIDTH - 36.0, PAGE_HEIGHT - 36.0
CONTENT_WIDTH = RIGHT - LEFT
BODY_TOP_FIRST_PAGE = TOP - 250  # below the letterhead, the account details, the summary and the chart
BODY_TOP_NEXT_PAGES = TOP - 40
BODY_BOTTOM = 62  # the footer lives below
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
TEXT_SIZE, ROW_HEIGHT, HEADER_HEIGHT, SECTION_HEIGHT, PADDING = 8, 10.5, 14, 26, 4
INK, MUTED, ACCENT = HexColor(0x1A1A1A), HexColor(0x6B7280), HexColor(0x1F3A5F)
NEGATIVE, STRIPE, RULE = HexColor(0xB42318), HexColor(0xF3F5F8), HexColor(0xD0D5DD)
FONT_CHARSET = "cp1252"  # what Helvetica's WinAnsiEncoding can draw


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    money: bool = False  # right-aligned, shrunk rather than cut, the title suffixed with the currency


def _columns(*columns: Column) -> tuple[Column, ...]:
    """The column given width 0 takes what the others leave of the page width."""
    rest = CONTENT_WIDTH - sum(column.width for column in columns)
    return tuple(Column(c.title, c.width or rest, c.money) for c in columns)


LINE_COLUMNS = _columns(
    Column("Booking date", 52), Column("Value date", 50), Column("Counterparty", 114), Column("Reference", 0),
    Column("Debit", 56, money=True), Column("Credit", 56, money=True), Column("Balance", 64, money=True),
)  # fmt: skip
# Rows that sum a table up: one label across the date and text columns, then the same money columns.
LINE_SUMMARY_COLUMNS = _columns(Column("", 0), *LINE_COLUMNS[4:])
HOLD_COLUMNS = _columns(
    Column("Hold", 110), Column("Reason", 0), Column("Placed on", 60), Column("Expires (UTC)", 80),
    Column("Amount", 64, money=True),
)  # fmt: skip
HOLD_SUMMARY_COLUMNS = _columns(Column("", 0), HOLD_COLUMNS[-1])

Cell = str | int | None  # text, an amount in minor units, or nothing


class Pen:
    """One page's text, written as a single PDF text object that changes font and colour only when they change.

    `Canvas.drawString` opens a text object per string and sets its font and colour afresh: for a table of a few
    hundred cells that bookkeeping dominated the rendering time. Shapes go straight to `canvas`;
    the text is painted over them when the page is finished."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self._text = canvas.beginText()
        self._font: tuple[str, float] | None = None
        self._color: Color | None = None

    def write(self, x: float, y: float, text: str, font=REGULAR, size=TEXT_SIZE, color=INK, align="left") -> None:
        """Write drawable text (see `fit`) starting at x, or ending at x if align is "right"."""
        left = x - stringWidth(text, font, size) if align == "right" else x
        self._place(left, y, text, font, size, color)

    def write_amount(self, right: float, y: float, text: str, width: float, font, color, size=TEXT_SIZE) -> None:
        """Right-aligned money: too wide for its column, it is set smaller, never cut."""
        text_width = stringWidth(text, font, size)
        if text_width > width:
            size, text_width = size * width / text_width, width
        self._place(right - text_width, y, text, font, size, color)

    def _place(self, left: float, y: float, text: str, font: str, size: float, color: Color) -> None:
        if (font, size) != self._font:
            self._text.setFont(font, size)
            self._font = (font, size)
        if color is not self._color:
            self._text.setFillColor(color)
            self._color = color
        self._text.setTextOrigin(left, y)
        # textLine, unlike textOut, does not measure the text to advance the cursor: each write places its own.
        self._text.textLine(text)

    def finish(self) -> None:
        self.canvas.drawText(self._text)


@dataclass(frozen=True)
class Block:
    """A horizontal strip of the body: `draw(pen, top)` paints it between top and top - height."""

    height: float
    draw: Callable[[Pen, float], None]
    keep_with_next: int = 0  # how many following blocks must share its page (a title and its first rows)
    repeat_header: Block | None = None  # the column header to draw again when this block starts a page


def render_pdf(statement: Statement) -> bytes:
    buffer = io.BytesIO()
    # Uncompressed (about 20 kB a page): ReportLab wraps compressed pages in ASCII85, whose pure-Python encoder (used
    # without the optional rl_accel extension) costs 10-30% of the rendering time; and the bytes then cannot depend on
    # the machine's zlib build.
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=0)
    _set_metadata(canvas, statement)
    pages = paginate(_body(statement))
    for number, placed in enumerate(pages, start=1):
        pen = Pen(canvas)
        if number == 1:
            _draw_first_page_head(pen, statement)
        else:
            _draw_continuation_head(pen, statement)
        for block, top in placed:
            block.draw(pen, top)
        _draw_footer(pen, statement, f"Page {number} of {len(pages)}")
        pen.finish()
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def paginate(blocks: Sequence[Block]) -> list[list[tuple[Block, float]]]:
    """Each page's blocks, with the y of their tops."""
    pages: list[list[tuple[Block, float]]] = [[]]
    top = BODY_TOP_FIRST_PAGE
    for index, block in enumerate(blocks):
        needed = sum(b.height for b in blocks[index : index + 1 + block.keep_with_next])
        if top - needed < BODY_BOTTOM and pages[-1]:
            pages.append([])
            top = BODY_TOP_NEXT_PAGES
            if block.repeat_header is not None:
                pages[-1].append((block.repeat_header, top))
                top -= block.repeat_header.height
        pages[-1].append((block, top))
        top -= block.height
    return pages


def _set_metadata(canvas: Canvas, statement: Statement) -> None:
    canvas.setTitle(statement.statement_id)
    canvas.setAuthor(BANK.name)
    canvas.setSubject(f"Account statement {_period_text(statement)} for {statement.account.account_id}")
    canvas.setCreator("bank_pipeline statements")
    # Invariant mode would stamp 2000-01-01; the statement's own time is the honest creation date.
    created = f"D:{_utc(statement.generated_at):%Y%m%d%H%M%S}+00'00'"
    canvas.setDateFormatter(lambda *_clock: created)


def _body(statement: Statement) -> list[Block]:
    currency, period = statement.account.currency, statement.period
    header = _header_block(LINE_COLUMNS, currency, keep_with_next=2)
    opening = (f"Opening balance on {period.previous_day}", None, None, statement.opening_balance)
    blocks = [header, _row(LINE_SUMMARY_COLUMNS, opening, currency, header, bold=True)]
    for index, line in enumerate(statement.lines):
        counterparty = line.counterparty or ("Internal transfer" if line.flow == "internal" else "-")
        debit, credit = (line.amount, None) if line.direction == "debit" else (None, line.amount)
        cells = (
            line.booking_date.isoformat(),
            line.value_date.isoformat(),
            counterparty,
            line.reference or "-",
            debit,
            credit,
            line.balance_after,
        )
        blocks.append(_row(LINE_COLUMNS, cells, currency, header, striped=index % 2 == 0))
    if not statement.lines:
        blocks.append(_row(LINE_SUMMARY_COLUMNS, ("No entries in this period.", None, None, None), currency, header))
    totals = f"Totals: {_count(statement.debit_count, 'debit')}, {_count(statement.credit_count, 'credit')}"
    totals_row = (totals, statement.debits, statement.credits, None)
    closing_row = (f"Closing balance on {period.last_day}", None, None, statement.closing_balance)
    blocks.append(_row(LINE_SUMMARY_COLUMNS, totals_row, currency, header, bold=True, rule=True, keep_with_next=1))
    blocks.append(_row(LINE_SUMMARY_COLUMNS, closing_row, currency, header, bold=True))
    return blocks + _hold_blocks(statement) + _note_blocks(statement)


def _hold_blocks(statement: Statement) -> list[Block]:
    if not statement.pending_holds:
        return []
    currency = statement.account.currency
    title = _section_title(
        "Pending holds at the end of the period",
        "Money reserved but not yet booked: not included in the balances above.",
    )
    header = _header_block(HOLD_COLUMNS, currency, keep_with_next=1)
    blocks = [title, header]
    for index, hold in enumerate(statement.pending_holds):
        expires = f"{_utc(hold.expires_at):%Y-%m-%d %H:%M}"
        cells = (hold.hold_id, hold.reason, hold.placed_on.isoformat(), expires, hold.amount)
        blocks.append(_row(HOLD_COLUMNS, cells, currency, header, striped=index % 2 == 0))
    total = (f"Total of {_count(len(statement.pending_holds), 'pending hold')}", statement.pending_hold_total)
    return [*blocks, _row(HOLD_SUMMARY_COLUMNS, total, currency, header, bold=True, rule=True)]


def _note_blocks(statement: Statement) -> list[Block]:
    lines = [text for note in statement.notes() for text in simpleSplit(fit(note), REGULAR, TEXT_SIZE, CONTENT_WIDTH)]
    if not lines:
        return []

    def draw_line(text: str) -> Callable[[Pen, float], None]:
        return lambda pen, top: pen.write(LEFT, top - ROW_HEIGHT + 3, text)

    return [_section_title("Notes", ""), *(Block(ROW_HEIGHT, draw_line(text)) for text in lines)]


def _section_title(title: str, explanation: str) -> Block:
    def draw(pen: Pen, top: float) -> None:
        pen.write(LEFT, top - 18, title, BOLD, 10, ACCENT)
        pen.write(LEFT + stringWidth(title, BOLD, 10) + 8, top - 18, explanation, REGULAR, 7, MUTED)

    return Block(SECTION_HEIGHT, draw, keep_with_next=2)


def _header_block(columns: Sequence[Column], currency: str, keep_with_next: int) -> Block:
    def draw(pen: Pen, top: float) -> None:
        pen.canvas.setFillColor(ACCENT)
        pen.canvas.rect(LEFT, top - HEADER_HEIGHT, CONTENT_WIDTH, HEADER_HEIGHT, stroke=0, fill=1)
        x, baseline = LEFT, top - HEADER_HEIGHT + 5
        for column in columns:
            if column.money:
                title = f"{column.title} ({currency})"
                pen.write(x + column.width - PADDING, baseline, title, BOLD, 7.5, white, "right")
            else:
                pen.write(x + PADDING, baseline, column.title, BOLD, 7.5, white)
            x += column.width

    return Block(HEADER_HEIGHT, draw, keep_with_next=keep_with_next)


def _row(
    columns: Sequence[Column],
    cells: Sequence[Cell],
    currency: str,
    header: Block,
    *,
    bold=False,
    striped=False,
    rule=False,
    keep_with_next=0,
) -> Block:
    font = BOLD if bold else REGULAR

    def draw(pen: Pen, top: float) -> None:
        canvas, baseline, x = pen.canvas, top - ROW_HEIGHT + 3, LEFT
        if striped:
            canvas.setFillColor(STRIPE)
            canvas.rect(LEFT, top - ROW_HEIGHT, CONTENT_WIDTH, ROW_HEIGHT, stroke=0, fill=1)
        if rule:
            canvas.setStrokeColor(INK)
            canvas.setLineWidth(0.6)
            canvas.line(LEFT, top, RIGHT, top)
        for column, cell in zip(columns, cells, strict=True):
            room = column.width - 2 * PADDING
            if isinstance(cell, int):
                color = NEGATIVE if cell < 0 else INK
                pen.write_amount(x + column.width - PADDING, baseline, format_amount(cell, currency), room, font, color)
            elif cell:
                pen.write(x + PADDING, baseline, fit(cell, font, TEXT_SIZE, room), font)
            x += column.width

    return Block(ROW_HEIGHT, draw, keep_with_next=keep_with_next, repeat_header=header)


def _draw_first_page_head(pen: Pen, statement: Statement) -> None:
    account, canvas = statement.account, pen.canvas
    pen.write(LEFT, TOP - 14, BANK.name, BOLD, 15, ACCENT)
    pen.write(RIGHT, TOP - 14, "Account statement", BOLD, 15, INK, "right")
    pen.write(LEFT, TOP - 26, f"BIC {BANK.bic}", REGULAR, 8, MUTED)
    caption = f"No. {statement.sequence_number}  |  {_period_text(statement)}"
    pen.write(RIGHT, TOP - 26, caption, REGULAR, 8, MUTED, "right")
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(1.2)
    canvas.line(LEFT, TOP - 34, RIGHT, TOP - 34)

    pen.write(LEFT, TOP - 52, "ACCOUNT HOLDER", REGULAR, 7, MUTED)
    pen.write(LEFT, TOP - 66, fit(account.customer_name, BOLD, 12, 280), BOLD, 12)
    pen.write(LEFT, TOP - 84, "ACCOUNT (IBAN)", REGULAR, 7, MUTED)
    pen.write(LEFT, TOP - 97, fit(account.account_id, REGULAR, 11, 280), REGULAR, 11)
    details = (
        ("Statement no.", str(statement.sequence_number)), ("Period", _period_text(statement)),
        ("Currency", account.currency), ("Product", account.product), ("Customer no.", account.customer_id),
        ("Generated", f"{_utc(statement.generated_at):%Y-%m-%d %H:%M:%S} UTC"),
    )  # fmt: skip
    for index, (label, value) in enumerate(details):
        baseline = TOP - 52 - 12 * index
        pen.write(RIGHT - 220, baseline, label, color=MUTED)
        pen.write(RIGHT, baseline, fit(value, REGULAR, TEXT_SIZE, 150), align="right")

    _draw_summary(pen, statement, LEFT, TOP - 232, 200, 104)
    draw_balance_chart(canvas, statement, LEFT + 216, TOP - 232, CONTENT_WIDTH - 216, 104)


def _draw_summary(pen: Pen, statement: Statement, x: float, y: float, width: float, height: float) -> None:
    period, currency = statement.period, statement.account.currency
    pen.canvas.setFillColor(STRIPE)
    pen.canvas.roundRect(x, y, width, height, 4, stroke=0, fill=1)
    # The debits carry a minus sign to read as a sum; red marks only a balance below zero.
    rows = (
        ("Opening balance", f"on {period.previous_day}", statement.opening_balance, REGULAR, True),
        ("Credits", _count(statement.credit_count, "entry"), statement.credits, REGULAR, False),
        ("Debits", _count(statement.debit_count, "entry"), -statement.debits, REGULAR, False),
        ("Closing balance", f"on {period.last_day}", statement.closing_balance, BOLD, True),
    )
    for index, (label, detail, amount, font, is_balance) in enumerate(rows):
        top = y + height - 6 - 23 * index
        pen.write(x + 8, top - 10, label, font, 8.5)
        pen.write(x + 8, top - 18, detail, REGULAR, 6.5, MUTED)
        color = NEGATIVE if is_balance and amount < 0 else INK
        text = f"{format_amount(amount, currency)} {currency}"
        pen.write_amount(x + width - 8, top - 12, text, width - 90, font, color, size=9.5)


def _draw_continuation_head(pen: Pen, statement: Statement) -> None:
    account = statement.account
    pen.write(LEFT, TOP - 12, BANK.name, BOLD, 10, ACCENT)
    caption = f"Account statement no. {statement.sequence_number}  |  {_period_text(statement)}  |  continued"
    pen.write(RIGHT, TOP - 12, caption, REGULAR, 8, MUTED, "right")
    pen.write(LEFT, TOP - 24, fit(f"{account.account_id}  |  {account.customer_name}", REGULAR, 8, CONTENT_WIDTH))
    pen.canvas.setStrokeColor(ACCENT)
    pen.canvas.setLineWidth(0.8)
    pen.canvas.line(LEFT, TOP - 30, RIGHT, TOP - 30)


def _draw_footer(pen: Pen, statement: Statement, page_caption: str) -> None:
    pen.canvas.setStrokeColor(RULE)
    pen.canvas.setLineWidth(0.5)
    pen.canvas.line(LEFT, 46, RIGHT, 46)
    pen.write(LEFT, 36, f"{BANK.name}  |  BIC {BANK.bic}", REGULAR, 7, MUTED)
    statement_id = fit(statement.statement_id, REGULAR, 7, 200)
    pen.write(PAGE_WIDTH / 2 - stringWidth(statement_id, REGULAR, 7) / 2, 36, statement_id, REGULAR, 7, MUTED)
    pen.write(RIGHT, 36, page_caption, REGULAR, 7, MUTED, "right")
    pen.write(
        LEFT,
        27,
        "Produced electronically from the booked entries of the account; valid without signature.",
        REGULAR,
        6,
        MUTED,
    )


def fit(text: str, font: str = REGULAR, size: float = TEXT_SIZE, width: float | None = None) -> str:
    """The drawable form of `text` (see module docstring), cut with an ellipsis if wider than `width`."""
    text = _drawable(text)
    if width is None or stringWidth(text, font, size) <= width:
        return text
    room = width - stringWidth("…", font, size)
    shortest, longest = 0, len(text)  # binary search for the longest prefix that fits
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if stringWidth(text[:middle], font, size) <= room:
            shortest = middle
        else:
            longest = middle - 1
    return text[:shortest].rstrip() + "…"


def _drawable(text: str) -> str:
    if text.isprintable() and _in_font(text):
        return text
    return "".join(_drawable_character(character) for character in text)


def _drawable_character(character: str) -> str:
    category = unicodedata.category(character)
    if category == "Cf":  # invisible formatting: soft hyphens, joiners, direction marks
        return ""
    if category == "Cc" or category[0] == "Z":  # line breaks, tabs, exotic spaces
        return " "
    if _in_font(character):
        return character
    base = "".join(c for c in unicodedata.normalize("NFKD", character) if not unicodedata.combining(c))
    return base if base and base.isprintable() and _in_font(base) else "?"


def _in_font(text: str) -> bool:
    try:
        text.encode(FONT_CHARSET)
    except UnicodeEncodeError:
        return False
    return True


def _count(number: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {noun if number == 1 else plural}"


def _period_text(statement: Statement) -> str:
    return f"{statement.period.first_day} to {statement.period.last_day}"


def _utc(moment: datetime) -> datetime:
    # A naive time is taken as UTC: converting it as local time would make the bytes depend on the machine.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
