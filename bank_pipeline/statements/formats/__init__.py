"""Statement formats: each renders a `Statement` to bytes, deterministically (same statement, same bytes)."""

from collections.abc import Callable

from bank_pipeline.domain.statements import Statement

Renderer = Callable[[Statement], bytes]


def renderers() -> dict[str, Renderer]:
    """Format name -> renderer; imported lazily so a CSV-only caller does not load the PDF and XML libraries."""
    from bank_pipeline.statements.formats.camt053 import render_camt053
    from bank_pipeline.statements.formats.csv import render_csv
    from bank_pipeline.statements.formats.mt940 import render_mt940
    from bank_pipeline.statements.formats.pdf import render_pdf

    return {"pdf": render_pdf, "csv": render_csv, "camt053": render_camt053, "mt940": render_mt940}


FORMATS: tuple[str, ...] = ("pdf", "csv", "camt053", "mt940")
FILE_EXTENSIONS: dict[str, str] = {"pdf": "pdf", "csv": "csv", "camt053": "xml", "mt940": "sta"}
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "camt053": "application/xml",
    "mt940": "text/plain",
}
