"""The sandbox centre's 配置费用核付通知单 (issue 23 §8), in process: 1401 serves the insured place's
notice; a device registration (2401) is checked against it before fitting (`001 §34`,
`002 经办规程 §18`, `000 §30`); the settlement (2304) pays each device up to the notice's — the
insured place's — 最高支付限额 (`000 §29`, `001 §15`), refuses a device not on the notice or above
its quantity, and uses the notice up: a second settlement on it is refused (3012)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.sandbox.service import SandboxCentre
from app.centre.wire import ErrorCode, Transaction as T
from tests.centre.test_sandbox_service import Counter, admit, centre, counter, day, line  # noqa: F401

HAN_LEI = "110108198803125316"  # Beijing, device filing to 湛江 (resources/sandbox/workers.toml)
LUO_JING = "440802197605250548"  # local, device confirmation
VALID = "HF110100202600001"  # 腋拐 ≤ 120.00, 普通轮椅 ≤ 1000.00
EXPIRED = "HF110100202600002"
USED = "HF110100202600003"
CANCELLED = "HF110100202600004"
SECOND_HOSPITAL = "H44080100099"


def admit_device(counter: Counter, notice_no: str | None = VALID, ssn: str = HAN_LEI, admitted: int = -1) -> str:
    return admit(counter, ssn, admitted, care="device", notice_no=notice_no, admission_no=f"FJ-{notice_no}",
                 diagnoses=[{"code": "S82.201", "name": "胫骨干骨折", "injury": True}])


def crutches(seq: int = 1, price: str = "150.00", quantity: str = "1", code: str = "FJ0302002",
             name: str = "腋拐") -> dict[str, Any]:
    return line(seq, code, quantity, price, category="device", date=-1, name=name, diagnosis="S82.201")


def settle(counter: Counter, registration_no: str) -> dict[str, Any]:
    return counter.ok(T.SETTLEMENT, {"registration_no": registration_no, "discharged": day(0)})


def test_1401_gives_the_insured_places_notice_with_its_devices_and_limits(counter: Counter) -> None:
    # 001 §34: the counter checks the notice at the centre; 000 附件2: each device's name,
    # 最低使用年限 and 最高支付限额.
    notice = counter.ok(T.NOTICE_QUERY, {"notice_no": VALID, "social_security_number": HAN_LEI})["notice"]
    assert notice["notice_no"] == VALID and notice["social_security_number"] == HAN_LEI and notice["name"] == "韩磊"
    assert notice["insured_place"] == {"province": "北京市", "city": "北京市", "city_code": "110100"}
    assert notice["issued"] == day(-10) and notice["valid_until"] == day(80)
    assert notice["status"] == "valid" and notice["used_by_settlement"] is None
    assert notice["items"] == [
        {"code": "FJ0302002", "name": "腋拐", "quantity": "1", "max_pay": "120.00", "min_years": 3},
        {"code": "FJ0301001", "name": "普通轮椅", "quantity": "1", "max_pay": "1000.00", "min_years": 4}]
    assert counter.ok(T.NOTICE_QUERY, {"notice_no": USED})["notice"]["status"] == "used"


def test_1401_refuses_an_unknown_notice_and_another_persons(counter: Counter) -> None:
    counter.refused(T.NOTICE_QUERY, {"notice_no": "HF-NONE"}, ErrorCode.NOTICE_NOT_FOUND)
    reply = counter.refused(T.NOTICE_QUERY, {"notice_no": VALID, "social_security_number": LUO_JING},
                            ErrorCode.NOTICE_INVALID)
    assert "韩磊" not in reply.err_msg  # nothing of the notice's holder is told


def test_2401_refuses_a_device_fitting_on_an_expired_used_or_cancelled_notice(counter: Counter) -> None:
    # 001 §34, 002 经办规程 §18: the notice is checked before fitting.
    expired = counter.call(T.ADMISSION, _admission(EXPIRED))
    assert expired.err_code is ErrorCode.NOTICE_INVALID and "有效期" in expired.err_msg
    assert counter.call(T.ADMISSION, _admission(USED)).err_code is ErrorCode.NOTICE_USED
    assert counter.call(T.ADMISSION, _admission(CANCELLED)).err_code is ErrorCode.NOTICE_INVALID
    assert counter.call(T.ADMISSION, _admission(VALID, ssn=LUO_JING)).err_code is ErrorCode.NOTICE_INVALID


def _admission(notice_no: str, ssn: str = HAN_LEI) -> dict[str, Any]:
    return {"social_security_number": ssn, "recognition_no": None, "filing_id": None, "care": "device",
            "admission_no": "FJ-1", "dept": "假肢矫形", "admitted": day(-1), "emergency": False,
            "third_party_liability": False, "notice_no": notice_no,
            "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True}]}


def test_a_device_is_paid_up_to_the_notices_limit_and_the_notice_is_used_once(counter: Counter,
                                                                               centre: SandboxCentre) -> None:
    # 000 §29, 001 §15: the insured place's 最高支付限额 (腋拐 120.00 on the notice; this city's
    # catalogue says 100.00): the fund pays 120.00, the 30.00 above it is the worker's.
    registration_no = admit_device(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration_no, "lines": [crutches()]})
    settled = settle(counter, registration_no)
    assert settled["fund_total"] == "120.00" and settled["personal_total"] == "30.00"
    assert settled["matrix"]["fund"]["device"] == "120.00" and settled["matrix"]["over_limit"]["device"] == "30.00"
    notice = counter.ok(T.NOTICE_QUERY, {"notice_no": VALID})["notice"]
    assert notice["status"] == "used" and notice["used_by_settlement"] == settled["settlement_id"]
    # A second fitting on it is refused (here at another provider of the same city).
    other = Counter(centre, SECOND_HOSPITAL)
    other.sign_no = other.ok(T.SIGN_IN, {})["sign_no"]
    assert other.call(T.ADMISSION, _admission(VALID)).err_code is ErrorCode.NOTICE_USED
    # The settlement cancelled, the notice may be used again.
    counter.ok(T.SETTLEMENT_CANCEL, {"settlement_id": settled["settlement_id"], "reason": "配置有误"})
    assert counter.ok(T.NOTICE_QUERY, {"notice_no": VALID})["notice"]["status"] == "valid"


def test_the_second_settlement_on_a_notice_is_refused_by_the_centre(counter: Counter, centre: SandboxCentre) -> None:
    # Two providers admitted the worker on the same notice; the first to settle uses it.
    first = admit_device(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": first, "lines": [crutches()]})
    other = Counter(centre, SECOND_HOSPITAL)
    other.sign_no = other.ok(T.SIGN_IN, {})["sign_no"]
    second = admit_device(other)
    other.ok(T.FEE_UPLOAD, {"registration_no": second, "lines": [crutches(price="110.00")]})
    assert settle(other, second)["fund_total"] == "110.00"
    refused = counter.refused(T.SETTLEMENT, {"registration_no": first, "discharged": day(0)}, ErrorCode.NOTICE_USED)
    assert VALID in refused.err_msg


def test_a_device_not_on_the_notice_or_above_its_quantity_is_refused_at_settlement(counter: Counter) -> None:
    registration_no = admit_device(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration_no,
                              "lines": [crutches(), crutches(2, "100.00", code="FJ0302001", name="肘拐")]})
    refused = counter.refused(T.SETTLEMENT, {"registration_no": registration_no, "discharged": day(0)},
                              ErrorCode.NOTICE_INVALID)
    assert "FJ0302001 不在通知单上" in refused.err_msg
    counter.ok(T.FEE_CANCEL, {"registration_no": registration_no, "seqs": [2]})
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration_no, "lines": [crutches(3, quantity="1")]})
    refused = counter.refused(T.SETTLEMENT, {"registration_no": registration_no, "discharged": day(0)},
                              ErrorCode.NOTICE_INVALID)
    assert "FJ0302002 配置 2，通知单核准 1" in refused.err_msg
    assert Decimal(counter.ok(T.NOTICE_QUERY, {"notice_no": VALID})["notice"]["items"][0]["max_pay"]) == 120
