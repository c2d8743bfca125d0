"""Hostile values shared by the JSON targets (case file, centre reply): wrong types, huge and
negative numbers, NaN / Infinity, 1e400, deep nesting, unicode oddities."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = [
    "", " ", "-1", "-0.01", "-0", "0", "0.001", "1e400", "-1e400", "1E5", "NaN", "Infinity", "-Infinity", "9" * 400,
    "0x10", "１２.５０", "٣", "1_000", " 12.50", "12.50 ", "12,50", "+1", "2026-02-30", "9999-12-31", "0000-00-00",
    "2026-1-2", "２０２６-１１-０２", "\u202e12.50", "\u200b", "\ufeff", "\x00", "𠀀", "е", "null", "true", "[]", "{}",
    "张伟" * 200, "H44080100001" * 3,
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(ODD_TEXT),
)


def nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


json_values = st.one_of(
    st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                 | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=10),
    st.integers(min_value=50, max_value=600).map(nested),
)


def without_floats(value: Any) -> Any:
    """The value as a JSON decoder that refuses floats would hand it on (the wire's rule): floats as text."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [without_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: without_floats(v) for k, v in value.items()}
    return value


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be put (object keys and list indexes)."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any, *, remove: bool = False, extra: str | None = None
             ) -> Any:
    """A deep copy of `document` with the value at `path` replaced (or removed, or an extra key added beside it)."""
    copy = json.loads(json.dumps(document))
    if not path:
        return value
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if remove:
        del parent[last]
    elif extra is not None and isinstance(parent, dict):
        parent[extra] = value
    else:
        parent[last] = value
    return copy


raw_json_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "{", "[" * 5000 + "]" * 5000, "{\"a\":" * 3000 + "1" + "}" * 3000, "1" * 5000,
                     "{\"format\": " + "9" * 5000 + "}", "[1e400]", "{\"a\": NaN}", "{\"a\": -Infinity}",
                     "\"\\ud800\"", "{\"a\": \"\\u0000\"}", "{\"a\":1,\"a\":2}", "\ufeff{}", "null"]),
)
