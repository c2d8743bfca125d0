"""Text from outside (the HIS, the centre) before it reaches a stored record or a printed document.

Control characters (C0 but tab and newline, DEL, C1) have no place in a name or a code: one of them
made the month's claim export fail for everyone (openpyxl refuses them in a cell). Bidirectional
controls (U+200E/F, U+202A–U+202E, U+2066–U+2069) reorder what the eye reads on a slip or a form
without changing the stored text ("患者应付" read backwards, an amount's digits swapped).

At the boundary: the HIS import refuses a row that holds one (`unsafe_in`, naming the column);
centre replies are cleaned (`clean`) and the cleaning logged. At the output: the slip, the forms
and the XLSX cells show only `printable` text, so text stored before this check prints safely too.
"""

from __future__ import annotations

import re

# Tab (U+0009) and line feed (U+000A) are left to `printable`; every other C0 control, DEL, C1, and
# the bidirectional marks, embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")


def unsafe_in(text: str) -> list[str]:
    """The unsafe characters in `text`, as code points (`U+202E`), first occurrence order."""
    found: list[str] = []
    for match in _UNSAFE.finditer(text):
        point = f"U+{ord(match.group()):04X}"
        if point not in found:
            found.append(point)
    return found


def has_unsafe(text: str) -> bool:
    return _UNSAFE.search(text) is not None


def clean(text: str) -> str:
    """`text` without control and bidirectional characters (tab and line feed kept)."""
    return _UNSAFE.sub("", text)


def printable(text: str) -> str:
    """What a one-line cell of a document may show: no control or bidi characters, tabs and line
    breaks as spaces."""
    return _LINE_BREAKS.sub(" ", _UNSAFE.sub("", text))


# A cell starting with one of these is a formula to Excel / LibreOffice (or becomes one when edited).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)
