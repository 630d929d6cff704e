"""Why a landing file, or one of its records, could not be read."""

from collections.abc import Sequence


class UnreadableFile(Exception):
    """The file cannot be parsed; the message says why in words an operator understands."""


#: 0-based record index -> problems of reading that one record (a cut-off last row, a ragged row).
RowProblems = dict[int, list[str]]


def require_columns(received: Sequence[str], expected: tuple[str, ...], what: str) -> None:
    """Raise UnreadableFile unless `received` names exactly the `expected` columns, in any order."""
    missing = [name for name in expected if name not in received]
    unknown = [name for name in received if name not in expected]
    if not missing and not unknown and len(set(received)) == len(received):
        return
    details = [f"missing {', '.join(missing)}"] if missing else []
    details += [f"unknown {', '.join(unknown)}"] if unknown else []
    why = "; ".join(details) or "a column name is repeated"
    raise UnreadableFile(f"{what} {','.join(received)[:200]!r}, expected {','.join(expected)!r} ({why})")


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
