"""The statement's balance-over-time chart, drawn straight onto a ReportLab canvas (paths are far faster than
reportlab.graphics drawings, and the chart is simple enough not to need them).

The balance is a step function of business time: flat between entries, jumping at each entry, from the opening
balance at the start of the period to the closing balance at its end. Zero is always inside the value axis, so an
overdraft shows as the part of the area below the zero line, in red.
"""

from __future__ import annotations

from reportlab.lib.colors import HexColor
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from bank_pipeline.domain.money import format_amount
from bank_pipeline.domain.statements import Statement

FONT, BOLD = "Helvetica", "Helvetica-Bold"
LABEL_SIZE = 6.5
TITLE_SIZE = 8
INK = HexColor(0x1A1A1A)
MUTED = HexColor(0x6B7280)
GRID = HexColor(0xE4E7EC)
POSITIVE_LINE, POSITIVE_FILL = HexColor(0x1F3A5F), HexColor(0xDCE6F2)
NEGATIVE_LINE, NEGATIVE_FILL = HexColor(0xB42318), HexColor(0xF9DCDA)


def draw_balance_chart(canvas: Canvas, statement: Statement, x: float, y: float, width: float, height: float) -> None:
    """Draw the chart inside the box whose lower-left corner is (x, y)."""
    currency = statement.account.currency
    canvas.setFont(BOLD, TITLE_SIZE)
    canvas.setFillColor(INK)
    canvas.drawString(x, y + height - TITLE_SIZE, f"Balance over the period ({currency})")

    balances = [statement.opening_balance, *(line.balance_after for line in statement.lines)]
    ticks = _value_ticks(min(0, *balances), max(0, *balances))
    labels = [format_amount(tick, currency) for tick in ticks]
    label_width = max(stringWidth(label, FONT, LABEL_SIZE) for label in labels)
    plot_left, plot_right = x + label_width + 4, x + width
    plot_bottom, plot_top = y + LABEL_SIZE + 5, y + height - TITLE_SIZE - 8
    low, high = ticks[0], ticks[-1]

    def y_of(balance: int) -> float:
        return plot_bottom + (balance - low) / (high - low) * (plot_top - plot_bottom)

    _draw_value_axis(canvas, ticks, labels, y_of, plot_left, plot_right)
    _draw_day_axis(canvas, statement, plot_left, plot_right, plot_bottom)

    period_seconds = statement.period.days * 86_400
    steps = [(plot_left, y_of(statement.opening_balance))]
    for line in statement.lines:
        elapsed = (line.occurred_at - statement.period.start).total_seconds()
        line_x = plot_left + elapsed / period_seconds * (plot_right - plot_left)
        steps += [(line_x, steps[-1][1]), (line_x, y_of(line.balance_after))]
    steps.append((plot_right, steps[-1][1]))
    zero_y = y_of(0)
    if max(balances) > 0:
        above_zero = (plot_left, zero_y, plot_right, plot_top + 1)
        _draw_area(canvas, steps, zero_y, above_zero, POSITIVE_FILL, POSITIVE_LINE)
    if min(balances) < 0:
        below_zero = (plot_left, plot_bottom - 1, plot_right, zero_y)
        _draw_area(canvas, steps, zero_y, below_zero, NEGATIVE_FILL, NEGATIVE_LINE)


def _value_ticks(low: int, high: int) -> list[int]:
    """Round values (1, 2 or 5 times a power of ten, in minor units) from low or below to high or above, in at most
    four intervals. A flat zero balance still gets an axis of one major unit."""
    high = max(high, low + 100)
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            first, last = (low // step) * step, -(-high // step) * step
            if last - first <= 4 * step:
                return list(range(first, last + 1, step))
        power *= 10


def _draw_value_axis(canvas: Canvas, ticks: list[int], labels: list[str], y_of, left: float, right: float) -> None:
    canvas.setFont(FONT, LABEL_SIZE)
    canvas.setLineWidth(0.5)
    for tick, label in zip(ticks, labels, strict=True):
        tick_y = y_of(tick)
        canvas.setStrokeColor(MUTED if tick == 0 else GRID)
        canvas.line(left, tick_y, right, tick_y)
        canvas.setFillColor(NEGATIVE_LINE if tick < 0 else MUTED)
        canvas.drawRightString(left - 3, tick_y - LABEL_SIZE / 3, label)


def _draw_day_axis(canvas: Canvas, statement: Statement, left: float, right: float, bottom: float) -> None:
    """A tick at the start of every day (up to two months), dates at both ends of the period."""
    period = statement.period
    canvas.setStrokeColor(MUTED)
    canvas.setLineWidth(0.4)
    if period.days <= 62:
        day_width = (right - left) / period.days
        ticks = canvas.beginPath()
        for day in range(period.days + 1):
            ticks.moveTo(left + day * day_width, bottom)
            ticks.lineTo(left + day * day_width, bottom - 2)
        canvas.drawPath(ticks, stroke=1, fill=0)
    canvas.setFillColor(MUTED)
    canvas.setFont(FONT, LABEL_SIZE)
    label_y = bottom - LABEL_SIZE - 3
    canvas.drawString(left, label_y, period.first_day.isoformat())
    if period.last_day != period.first_day:
        canvas.drawRightString(right, label_y, period.last_day.isoformat())


def _draw_area(canvas: Canvas, steps, zero_y: float, clip_box, fill, stroke) -> None:
    """The step line and the area between it and zero, only inside clip_box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = clip_box
    if y1 - y0 <= 1:
        return
    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(x0, y0, x1 - x0, y1 - y0)
    canvas.clipPath(clip, stroke=0, fill=0)
    area = canvas.beginPath()
    area.moveTo(steps[0][0], zero_y)
    for point in steps:
        area.lineTo(*point)
    area.lineTo(steps[-1][0], zero_y)
    area.close()
    canvas.setFillColor(fill)
    canvas.drawPath(area, stroke=0, fill=1)
    line = canvas.beginPath()
    line.moveTo(*steps[0])
    for point in steps[1:]:
        line.lineTo(*point)
    canvas.setStrokeColor(stroke)
    canvas.setLineWidth(1)
    canvas.drawPath(line, stroke=1, fill=0)
    canvas.restoreState()
