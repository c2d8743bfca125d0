"""Hostile case files (issue 9 item 5): whatever a `wi-counter-case/1` file holds, the reader returns a
`Case` or raises `InvalidCase` naming every problem in Chinese — never a TypeError, KeyError,
RecursionError or a decimal error. The rules (CASES.md) are checked elsewhere; here only the shape."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.rules.case import Case, InvalidCase, read_case_file
from tests.fuzz.strategies import json_values, paths, raw_json_text, replaced
from tests.fuzz.support import fuzz_settings, judge, unexpected
from tests.rules.base_case import base_case

pytestmark = pytest.mark.fuzz
TARGET = "case_file"
BASE = base_case()
BASE_PATHS = paths(BASE)
SECTIONS = ["format", "profile", "institution", "worker", "recognition", "filing", "stay", "catalogue", "items"]
_FOLDER = tempfile.TemporaryDirectory(prefix="fuzz-case-")


def _read(content: bytes) -> Case | InvalidCase:
    path = Path(_FOLDER.name) / "case.json"
    path.write_bytes(content)
    outcome = judge(TARGET, lambda: read_case_file(path), InvalidCase)
    if isinstance(outcome, InvalidCase) and not outcome.problems:
        raise unexpected(TARGET, "InvalidCase without a problem listed")
    return outcome


def _dumped(document: Any) -> bytes:
    # allow_nan: NaN / Infinity are written as a hostile file would have them
    return json.dumps(document, ensure_ascii=False, allow_nan=True).encode("utf-8")


@fuzz_settings(200)
@given(st.sampled_from(SECTIONS), json_values, st.sampled_from(SECTIONS))
def test_a_section_replaced_and_another_removed(key: str, value: Any, removed: str) -> None:
    document = base_case()
    document[key] = value
    if removed != key:
        document.pop(removed, None)
    _read(_dumped(document))


@fuzz_settings(350)
@given(st.sampled_from(BASE_PATHS), json_values, st.sampled_from(["replace", "remove", "extra"]))
@example(("items", 0, "amount"), "1" + "0" * 40, "replace")  # beyond Decimal's 28 digits
@example(("items", 0, "quantity"), "9" * 30, "replace")
@example(("catalogue", 0, "price_limit"), "-0.01", "replace")  # negative money
@example(("items", 0, "seq"), 10**400, "replace")  # an integer too long to convert to text
def test_a_hostile_value_anywhere(path: tuple[Any, ...], value: Any, how: str) -> None:
    if how == "remove" and not path:
        how = "replace"
    document = replaced(BASE, path, value, remove=how == "remove", extra="unexpected_key" if how == "extra" else None)
    try:
        content = _dumped(document)
    except ValueError:  # json cannot even write it (an integer past 4300 digits): write it by hand
        content = _dumped(replaced(BASE, path, "__BIG__")).replace(b'"__BIG__"', b"1" + b"0" * 5000)
    _read(content)


@fuzz_settings(200)
@given(st.one_of(raw_json_text.map(lambda text: text.encode("utf-8", errors="surrogatepass")), st.binary(max_size=80),
                 st.builds(lambda cut: _dumped(BASE)[:cut], st.integers(0, len(_dumped(BASE))))))
@example(b"[" * 100_000 + b"]" * 100_000)  # nested past the interpreter's recursion limit
@example(b'{"format": ' + b"9" * 5000 + b"}")  # an integer past Python's 4300-digit limit
def test_any_bytes(content: bytes) -> None:
    _read(content)
