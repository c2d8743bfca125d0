"""The domain values' JSON form (what the outbox stores): exact round trips, no float, clear errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.centre.gateway import (
    AdmissionCancelRequest,
    AdmissionRequest,
    FeeCancelRequest,
    FeeLine,
    FeeUpload,
    SettlementCancelRequest,
    SettlementRequest,
    StayDiagnosis,
    from_json,
    to_json,
)

DAY = dt.date(2026, 11, 20)
REQUESTS = [
    AdmissionRequest("440802198503151236", "440800", "medical", "016357002", "骨关节病区", DAY,
                     (StayDiagnosis("S82.201", "胫骨干骨折", True), StayDiagnosis("I10", "原发性高血压", False)),
                     recognition_no=None, filing_id="BA440800202610010001", emergency=True),
    AdmissionCancelRequest("ZY1", "登记错误", "440800"),
    FeeUpload("ZY1", (FeeLine(1, "XB01AC06", "阿司匹林肠溶片", "drug", Decimal("30"), Decimal("0.5000"),
                              Decimal("15.00"), DAY, "I10", False),
                      FeeLine(2, "XB01AC06", "阿司匹林肠溶片", "drug", Decimal("-10"), Decimal("0.50"),
                              Decimal("-5.00"), DAY, None, None, refund_of=1))),
    FeeCancelRequest("ZY1", (3, 4)),
    FeeCancelRequest("ZY1", None),
    SettlementRequest("ZY1", DAY, settled=None, expected_total=Decimal("24184.00")),
    SettlementCancelRequest("JS1", "重新结算"),
]


@pytest.mark.parametrize("request_value", REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_survive_the_outbox_exactly(request_value: object) -> None:
    stored = to_json(request_value)
    assert from_json(type(request_value), stored) == request_value
    assert "float" not in repr(stored)
    # Money and quantities keep their digits (0.5000 stays 0.5000).
    if isinstance(request_value, FeeUpload):
        assert stored["lines"][0]["unit_price"] == "0.5000"


def test_a_float_is_refused() -> None:
    with pytest.raises(TypeError):
        to_json({"amount": 15.0})


def test_a_field_of_the_wrong_type_is_named() -> None:
    stored = to_json(REQUESTS[1])
    stored["registration_no"] = 12
    with pytest.raises(ValueError, match="registration_no"):
        from_json(AdmissionCancelRequest, stored)
