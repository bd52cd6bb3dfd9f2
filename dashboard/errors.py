"""The package's one error type for bad input, so callers can catch it and show it plainly."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DashboardError(ValueError):
    """Bad input: the message names the file, column and first offending row or value."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 row: object | None = None) -> None:
        parts = []
        if file is not None:
            parts.append(f"{file}")
        if column is not None:
            parts.append(f"column {column!r}")
        if row is not None:
            parts.append(f"row {row}")
        prefix = ": ".join([", ".join(parts)]) + ": " if parts else ""
        super().__init__(prefix + message)
        self.file = file
        self.column = column
        self.row = row


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to a mistyped ``word`` (case
    ignored), or ``""`` when none is close: the hint an error message ends with."""
    names = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(names), n=1, cutoff=0.6)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""
