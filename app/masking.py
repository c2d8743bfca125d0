"""Masking citizen ID numbers (公民身份号码 / 社会保障号码) for logs and lists.

An 18-character ID keeps its 6-digit region code and its last 4 characters:
`440802198001011233` → `440802********1233`. Old 15-digit IDs keep 6 and 3.
"""

from __future__ import annotations

import re

# Bounded by non-digits only, so that longer digit strings (msgid stamps and sequences, batch numbers)
# are left alone but an ID touching letters ("ID4408…", "…1234X", "abc4408…") is still masked.
_ID18 = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_ID15 = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{6}([0-9]{3})(?![0-9Xx])")


def mask_id_number(id_number: str) -> str:
    """Mask one ID number; anything that is not one is returned masked as far as it can be."""
    if len(id_number) == 18:
        return f"{id_number[:6]}{'*' * 8}{id_number[-4:]}"
    if len(id_number) == 15:
        return f"{id_number[:6]}{'*' * 6}{id_number[-3:]}"
    if len(id_number) > 4:
        return f"{'*' * (len(id_number) - 4)}{id_number[-4:]}"
    return "*" * len(id_number)


def mask_ids_in_text(text: str) -> str:
    """Mask every ID number that appears in free text."""
    if len(text) < 15:  # shorter than any ID number: nothing to mask (most of a 20,000-line reply's texts)
        return text
    text = _ID18.sub(lambda m: f"{m.group(1)}{'*' * 8}{m.group(2)}", text)
    return _ID15.sub(lambda m: f"{m.group(1)}{'*' * 6}{m.group(2)}", text)
