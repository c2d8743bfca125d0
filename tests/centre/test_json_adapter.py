"""The JSON adapter's own rules that need no centre: the signed body, TLS and plain-HTTP rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.centre import wire
from app.centre.json_adapter import JsonCentre, signed_body

CALLER = wire.Caller("H44080100001", "湛江市第一人民医院", "cashier", "张收款", "440800")


def test_the_signed_body_is_exactly_the_wire_modules() -> None:
    """The adapter's faster signing must produce the bytes docs/centre-interface.md §3 defines."""
    request = wire.Request(
        infno=wire.Transaction.FEE_UPLOAD, msgid=wire.make_msgid("H44080100001", wire.now(), 42), caller=CALLER,
        inf_time=wire.now(), sign_no="SN1", insured_region="440800",
        data={"registration_no": "ZY1", "lines": [{"seq": 1, "name": "阿司匹林肠溶片", "amount": wire.money(Decimal("15")),
                                                   "injury": None, "refund_of": 3}]},
    )
    body = signed_body(request, b"key")
    assert body == request.to_bytes(b"key")
    assert wire.signature_valid(wire.decode(body), b"key")
    assert not wire.signature_valid(wire.decode(body.replace(b"15.00", b"16.00")), b"key")


def test_a_float_never_leaves_the_counter() -> None:
    request = wire.Request(wire.Transaction.FEE_UPLOAD, wire.make_msgid("H44080100001", wire.now(), 1), CALLER,
                           wire.now(), "SN1", "", {"amount": 15.0})
    with pytest.raises(wire.WireError):
        signed_body(request, b"key")


def test_plain_http_only_to_this_machine() -> None:
    with pytest.raises(ValueError, match="https"):
        JsonCentre("http://centre.example.org", b"key", CALLER, lambda: "x")
    with pytest.raises(ValueError, match="https"):
        JsonCentre("ftp://127.0.0.1", b"key", CALLER, lambda: "x")
    JsonCentre("http://127.0.0.1:8765", b"key", CALLER, lambda: "x").close()
    JsonCentre("https://centre.example.org", b"key", CALLER, lambda: "x").close()


def test_the_session_is_renewed_before_it_expires() -> None:
    """No call goes out on a session about to lapse (the centre would refuse it with 1005)."""
    centre = JsonCentre("http://127.0.0.1:9", b"key", CALLER, lambda: "x")
    signed_in: list[int] = []

    def sign_in() -> None:
        signed_in.append(1)
        centre._sign_no = f"SN{len(signed_in)}"  # noqa: SLF001
        centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)  # noqa: SLF001

    centre.sign_in = sign_in  # type: ignore[method-assign]
    assert centre._current_sign_no() == "SN1"  # noqa: SLF001
    assert centre._current_sign_no() == "SN1"  # noqa: SLF001
    centre._session_expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)  # noqa: SLF001
    assert centre._current_sign_no() == "SN2"  # noqa: SLF001
    centre.close()
