"""Free-text fields (case references, notes, reasons, platform names, filters):
what they may hold.

Control characters and lone surrogates are refused wherever text enters the
service, on every database alike: PostgreSQL cannot store a NUL at all, a lone
surrogate cannot be encoded as UTF-8, and the others turn a log line, a CSV
cell or an investigator's screen into something other than what was sent.
Multi-line fields (notes) may hold line breaks and tabs.
"""

from __future__ import annotations

import re

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# C0 and C1 controls, DEL, and UTF-16 surrogates (only reachable as lone ones).
_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

CONTROL_ERROR = "control_character"
"""The pydantic error type of a refused character; the API answers it as
``invalid_text``."""


def refused_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first character ``value`` may not hold, or None."""
    found = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start()}"


def _plain(value: str | None, multiline: bool) -> str | None:
    if value is None:
        return None
    bad = refused_character(value, multiline=multiline)
    if bad is not None:
        kind = (
            "control characters other than line breaks and tabs"
            if multiline
            else "control characters"
        )
        raise PydanticCustomError(
            CONTROL_ERROR, "text may not hold {kind}: {bad}", {"kind": kind, "bad": bad}
        )
    return value


def _single_line(value: str | None) -> str | None:
    return _plain(value, multiline=False)


def _multiline(value: str | None) -> str | None:
    return _plain(value, multiline=True)


PlainText = AfterValidator(_single_line)
"""Annotated metadata for a one-line text field (models and query parameters)."""
MultilineText = AfterValidator(_multiline)
"""Annotated metadata for a text field that may span lines."""
