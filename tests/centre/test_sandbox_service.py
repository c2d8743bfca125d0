"""The sandbox centre's transactions, in process (no HTTP): every transaction of
docs/centre-interface.md, its refusals, the envelope checks (signature, replay, time window),
reversal and outcome query. The same code runs behind HTTP in test_sandbox_server.py."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.centre import wire
from app.sandbox import seed, store
from app.sandbox.service import SandboxCentre
from app.centre.wire import ErrorCode, Outcome, Transaction as T
from app.errors import ConfigurationError
from app.rules.case import parse_case
from app.rules.settlement import compute

KEY = b"service-test-key"
HOSPITAL = "H44080100001"
ZHANG_WEI = "440802198503151236"  # local profile, valid filing (demo-people.md)
LI_NA = "440106199007224565"  # guangdong-intra, valid referral filing
WANG_XIULAN = "220102197801092349"  # jilin-intra, emergency, no filing
CHEN_MIN = "440803199211300085"  # card expired 2025-06-30


class Counter:
    """A counter talking to an in-process sandbox centre through the real envelope code."""

    _numbers = itertools.count(1)

    def __init__(self, centre: SandboxCentre, institution: str = HOSPITAL, key: bytes = KEY) -> None:
        self.centre = centre
        self.key = key
        self.caller = wire.Caller(institution, "湛江市第一人民医院", "cashier", "张收款", "440800")
        self.sign_no = ""
        self.terminal_no = ""  # set once the counter signed in with its identity (issue 21)

    def msgid(self) -> str:
        if self.terminal_no:  # a registered counter's msgids carry its 终端号 (the sandbox checks it)
            return wire.make_terminal_msgid(self.caller.institution_code, wire.now(), self.terminal_no,
                                            next(self._numbers) % wire.SLOTS_PER_SECOND)
        return wire.make_msgid(self.caller.institution_code, wire.now(), next(self._numbers))

    def request(self, infno: T, data: dict[str, Any], msgid: str | None = None,
                inf_time: dt.datetime | None = None) -> wire.Request:
        return wire.Request(infno, msgid or self.msgid(), self.caller, inf_time or wire.now(), self.sign_no, "", data)

    def send_bytes(self, body: bytes, msgid: str) -> wire.Reply:
        handled = self.centre.handle_body(body)
        return wire.read_reply(handled.body, self.key, msgid)

    def send(self, request: wire.Request) -> wire.Reply:
        return self.send_bytes(request.to_bytes(self.key), request.msgid)

    def call(self, infno: T, data: dict[str, Any], **options: Any) -> wire.Reply:
        return self.send(self.request(infno, data, **options))

    def ok(self, infno: T, data: dict[str, Any]) -> dict[str, Any]:
        reply = self.call(infno, data)
        assert reply.ok, f"{infno.value}: {reply.err_code} {reply.err_msg} {reply.output}"
        return reply.output

    def refused(self, infno: T, data: dict[str, Any], code: ErrorCode) -> wire.Reply:
        reply = self.call(infno, data)
        assert not reply.ok and reply.err_code is code, f"expected {code}, got {reply.err_code} {reply.err_msg}"
        return reply


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[SandboxCentre]:
    connection = store.connect(tmp_path / "centre")
    seed.seed_if_new(connection, wire.now().date())
    codes = [row[0] for row in connection.execute("SELECT code FROM institution")]
    yield SandboxCentre(connection, {code: KEY for code in codes})
    connection.close()


@pytest.fixture
def counter(centre: SandboxCentre) -> Counter:
    client = Counter(centre)
    client.sign_no = client.ok(T.SIGN_IN, {})["sign_no"]
    return client


TODAY = wire.now().date()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def admit(counter: Counter, ssn: str = ZHANG_WEI, admitted: int = -3, **extra: Any) -> str:
    data = {"social_security_number": ssn, "recognition_no": None, "filing_id": None, "care": "medical",
            "admission_no": "ZY0001", "dept": "骨科", "admitted": day(admitted), "emergency": False,
            "third_party_liability": False,
            "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True},
                          {"code": "I10", "name": "原发性高血压", "injury": False}], **extra}
    return str(counter.ok(T.ADMISSION, data)["registration_no"])


def line(seq: int, code: str = "XB01AC06", quantity: str = "2", price: str = "0.50", *, category: str = "drug",
         injury: bool | None = True, refund_of: int | None = None, date: int = -2, name: str = "阿司匹林肠溶片",
         diagnosis: str | None = None) -> dict[str, Any]:
    amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
    return {"seq": seq, "code": code, "name": name, "category": category, "quantity": quantity, "unit_price": price,
            "amount": f"{amount:.2f}", "date": day(date), "diagnosis": diagnosis, "injury": injury,
            "refund_of": refund_of}


# --- envelope: signature, replay, time window --------------------------------------------


def test_a_tampered_request_is_refused_and_not_recorded(counter: Counter) -> None:
    request = counter.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    message = wire.signed(request.as_message(), KEY)
    message["input"]["data"]["value"] = LI_NA  # changed after signing
    reply = counter.send_bytes(wire.encode(message), request.msgid)
    assert reply.err_code is ErrorCode.BAD_SIGNATURE
    # not recorded: an attacker cannot burn the msgid, and the outcome query says unknown
    assert counter.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "unknown"


def test_a_request_signed_with_another_key_is_refused(centre: SandboxCentre) -> None:
    stranger = Counter(centre, key=b"wrong-key")
    request = stranger.request(T.SIGN_IN, {})
    handled = centre.handle_body(request.to_bytes(b"wrong-key"))
    reply = wire.read_reply(handled.body, KEY, request.msgid)  # the centre signs with the institution's key
    assert reply.err_code is ErrorCode.BAD_SIGNATURE


def test_a_replayed_request_is_refused_and_not_executed_twice(counter: Counter) -> None:
    registration = admit(counter)
    request = counter.request(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]})
    body = request.to_bytes(KEY)
    first = counter.send_bytes(body, request.msgid)
    assert first.ok and first.output["line_count"] == 1
    again = counter.send_bytes(body, request.msgid)  # the very same bytes, replayed
    assert again.err_code is ErrorCode.DUPLICATE_MSGID
    resigned = counter.send(counter.request(T.FEE_UPLOAD, request.data, msgid=request.msgid))  # fresh inf_time
    assert resigned.err_code is ErrorCode.DUPLICATE_MSGID
    status = counter.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})
    assert status["outcome"] == "applied" and status["output"]["line_count"] == 1


def test_a_stale_request_is_refused_and_its_msgid_stays_unused(counter: Counter) -> None:
    old = wire.now() - dt.timedelta(seconds=wire.CLOCK_SKEW_SECONDS + 60)
    request = counter.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}, inf_time=old)
    assert counter.send(request).err_code is ErrorCode.STALE_REQUEST
    fresh = counter.send(counter.request(T.PERSON_LOOKUP, request.data, msgid=request.msgid))
    assert fresh.ok


def test_unknown_institution_and_malformed_bodies_get_an_answer(centre: SandboxCentre, counter: Counter) -> None:
    handled = centre.handle_body(b"not json")
    assert b'"err_code":"1001"' in handled.body
    handled = centre.handle_body(b'{"amount": 1.5}')
    assert b'"err_code":"1001"' in handled.body  # a float is never accepted
    stranger = Counter(centre, institution="H99999999999")
    request = stranger.request(T.SIGN_IN, {})
    reply = wire.parse_reply(wire.decode(centre.handle_body(request.to_bytes(KEY)).body))
    assert reply.err_code is ErrorCode.UNKNOWN_INSTITUTION


def test_every_call_but_sign_in_needs_a_live_session(centre: SandboxCentre) -> None:
    anonymous = Counter(centre)
    anonymous.refused(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}, ErrorCode.NOT_SIGNED_IN)
    anonymous.sign_no = anonymous.ok(T.SIGN_IN, {})["sign_no"]
    anonymous.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    anonymous.ok(T.SIGN_OUT, {})
    anonymous.refused(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}, ErrorCode.NOT_SIGNED_IN)


# --- people and catalogue -----------------------------------------------------------------


def test_person_lookup_by_number_card_and_e_card_token(counter: Counter) -> None:
    by_number = counter.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": LI_NA})
    by_card = counter.ok(T.PERSON_LOOKUP, {"by": "card", "value": "B44010002"})
    by_token = counter.ok(T.PERSON_LOOKUP, {"by": "ecard_token", "value": "ECARD-LN-2B8E4D05"})
    assert by_number == by_card == by_token
    assert by_number["person"]["name"] == "李娜" and by_number["profile"] == "guangdong-intra"
    assert by_number["person"]["insured_place"]["city_code"] == "440100"
    assert by_number["recognitions"][0]["diagnoses"][0] == {"code": "S62.300", "name": "掌骨骨折"}
    filing = by_number["filings"][0]
    assert filing["destination"]["city_code"] == "440800" and filing["status"] == "active"
    assert filing["valid_from"] <= TODAY.isoformat() <= filing["valid_to"]


def test_person_lookup_refusals(counter: Counter) -> None:
    expired = counter.refused(T.PERSON_LOOKUP, {"by": "card", "value": "D44080004"}, ErrorCode.CARD_INVALID)
    assert "2025-06-30" in expired.err_msg
    counter.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": CHEN_MIN})  # the person is known
    counter.refused(T.PERSON_LOOKUP, {"by": "ecard_token", "value": "ECARD-NOPE"}, ErrorCode.ECARD_TOKEN_INVALID)
    counter.refused(T.PERSON_LOOKUP, {"by": "social_security_number", "value": "11010519491231002X"},
                    ErrorCode.PERSON_NOT_FOUND)


def test_catalogue_download_is_versioned_and_paged(counter: Counter) -> None:
    first = counter.ok(T.CATALOGUE_DOWNLOAD, {"since_version": 0, "page": 1, "page_size": 200})
    second = counter.ok(T.CATALOGUE_DOWNLOAD, {"since_version": 0, "page": 2, "page_size": 200})
    assert first["total"] >= 300 and first["pages"] == 2 and first["version"] == 1
    entries = first["entries"] + second["entries"]
    assert len(entries) == first["total"] == len({e["code"] for e in entries})
    assert {e["category"] for e in entries} == {"drug", "treatment", "consumable", "rehab", "device"}
    devices = [e for e in entries if e["category"] == "device"]
    assert devices and all(e["max_pay"] is not None and e["min_years"] for e in devices)
    assert any(e["per_day"] for e in entries)
    assert counter.ok(T.CATALOGUE_DOWNLOAD, {"since_version": 1})["entries"] == []


# --- admission ----------------------------------------------------------------------------


def test_admission_returns_a_registration_number_and_the_verdict(counter: Counter) -> None:
    output = counter.ok(T.ADMISSION, {
        "social_security_number": LI_NA, "recognition_no": None, "filing_id": None, "care": "medical",
        "admission_no": "016357002", "dept": "骨关节病区", "admitted": day(-1), "emergency": False,
        "third_party_liability": False, "diagnoses": [{"code": "S62.300", "name": "掌骨骨折", "injury": True}]})
    assert output["registration_no"].startswith("ZY440800")
    assert output["settlement_kind"] == "省内异地就医" and output["verdict"]["allowed"] is True


def test_admission_refused_with_every_reason(counter: Counter) -> None:
    # 郑军's filing names 广州, not 湛江 (000 §11); 吴芳's is terminated (001 §13)
    wrong_city = counter.refused(T.ADMISSION, {
        "social_security_number": _ssn(counter, "郑军"), "care": "medical",
        "admitted": day(-1), "diagnoses": []}, ErrorCode.NOT_ELIGIBLE)
    assert [r["code"] for r in wrong_city.output["verdict"]["reasons"]] == ["WRONG_DESTINATION"]
    terminated = counter.refused(T.ADMISSION, {
        "social_security_number": _ssn(counter, "吴芳"), "care": "medical", "admitted": day(-1), "diagnoses": []},
        ErrorCode.NOT_ELIGIBLE)
    assert "FILING_TERMINATED" in [r["code"] for r in terminated.output["verdict"]["reasons"]]
    # refused admissions leave nothing behind
    assert counter.centre.connection.execute("SELECT count(*) FROM registration").fetchone()[0] == 0


def _ssn(counter: Counter, name: str) -> str:
    row = counter.centre.connection.execute("SELECT ssn FROM person WHERE name = ?", (name,)).fetchone()
    return str(row[0])


def test_seeded_filing_situations_give_the_rules_verdicts(counter: Counter) -> None:
    """Each filing situation of the seed meets its verdict at admission (CASES.md reason codes)."""
    expected = {  # name: (admitted offset, blocking codes expected)
        "黄丽": (-1, {"FILING_EXPIRED"}),  # 000 §12
        "钱晓明": (-1, {"FILING_CANCELLED"}),  # 001 §13
        "冯婷": (-1, {"REFERRAL_WINDOW_PASSED"}),  # 003 §10
        "孙丽娟": (-1, {"FILING_ALREADY_USED"}),  # 000 §10
        "高磊": (-1, {"WRONG_DESTINATION"}),  # 000 §11
        "梁建国": (-1, {"FILING_NOT_YET_VALID"}),  # 000 §12
        "谢敏": (-5, {"NO_FILING"}),  # 003 §5: filed on the spot after admission, not there at admission
        "胡志刚": (-1, {"INSURANCE_TERMINATED"}),  # 003 §5
        "林秀英": (-1, {"NO_RECOGNITION"}),  # 003 §5
        "杨帆": (-1, {"CONTRIBUTION_ARREARS"}),  # 002 经办规程 §17
    }
    for name, (offset, codes) in expected.items():
        reply = counter.call(T.ADMISSION, {"social_security_number": _ssn(counter, name), "care": "medical",
                                           "admitted": day(offset), "diagnoses": []})
        assert reply.err_code is ErrorCode.NOT_ELIGIBLE, name
        blocking = {r["code"] for r in reply.output["verdict"]["reasons"] if r["blocking"]}
        assert blocking == codes, (name, blocking)
    for name in ("马国强", "赵建华", "朱海燕", "刘洋", "宋涛"):  # valid situations are admitted
        counter.ok(T.ADMISSION, {"social_security_number": _ssn(counter, name), "care": "medical",
                                 "admitted": day(-1), "diagnoses": []})


def test_emergency_admission_without_filing_then_back_filing_settles(counter: Counter) -> None:
    """Jilin emergency: admitted without a filing, back-filed before settlement (002 经办规程 §15)."""
    registration = admit(counter, WANG_XIULAN, admitted=-4, emergency=True,
                         diagnoses=[{"code": "S32.000", "name": "腰椎骨折", "injury": True}])
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]})
    refused = counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                              ErrorCode.NOT_ELIGIBLE)
    assert "EMERGENCY_BACKFILE_REQUIRED" in [r["code"] for r in refused.output["verdict"]["reasons"]]
    with store.transaction(counter.centre.connection):
        seed.insert_filing(counter.centre.connection, WANG_XIULAN, {
            "id": "BA220100TEST0001", "category": "referral", "care": ["medical"],
            "destination": {"province": "广东省", "city": "湛江市", "city_code": "440800"},
            "approved_on": day(-1), "valid_from": day(-1), "valid_to": day(170), "status": "active",
            "filed_on": day(-1)}, TODAY, "test")
    settled = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    assert "EMERGENCY_BACKFILED" in [r["code"] for r in settled["verdict"]["reasons"]]


def test_one_open_registration_per_person_and_cancel_admission(counter: Counter) -> None:
    registration = admit(counter)
    counter.refused(T.ADMISSION, {"social_security_number": ZHANG_WEI, "care": "medical", "admitted": day(-1),
                                  "diagnoses": []}, ErrorCode.REGISTRATION_STATE)
    assert counter.ok(T.ADMISSION_CANCEL, {"registration_no": registration, "reason": "录入错误"})["status"] == "cancelled"
    counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]}, ErrorCode.REGISTRATION_STATE)
    admit(counter)  # a new admission is possible again


# --- fee lines ----------------------------------------------------------------------------


def test_fee_upload_at_most_100_lines_each_with_its_injury_flag(counter: Counter) -> None:
    registration = admit(counter)
    counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(i) for i in range(1, 102)]},
                    ErrorCode.TOO_MANY_LINES)
    output = counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [
        line(1), line(2, injury=False), line(3, "NOT-IN-CATALOGUE", name="自费药"),
        line(4, "XB01AC06", "10", "0.80")]})
    assert output["accepted"] == 4 and output["line_count"] == 4 and output["total"] == "11.00"
    replies = {r["seq"]: r for r in output["lines"]}
    assert replies[2]["non_injury"] is True
    assert replies[3]["in_catalogue"] is False and replies[3]["self_pay_amount"] == "1.00"
    assert replies[4]["over_limit_amount"] == "3.00"  # 10 × (0.80 − 0.50)


def test_fee_upload_refuses_the_whole_call_for_one_bad_line(counter: Counter) -> None:
    registration = admit(counter)
    bad = line(2)
    bad["amount"] = "9.99"
    reply = counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1), bad]},
                            ErrorCode.LINE_INVALID)
    assert reply.output["problems"][0]["path"] == "$.lines[1].amount"
    floaty = line(3)
    floaty["injury"] = "yes"
    counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [floaty]}, ErrorCode.LINE_INVALID)
    assert counter.centre.connection.execute("SELECT count(*) FROM fee_line").fetchone()[0] == 0


def test_fee_upload_duplicates_conflicts_and_refunds(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, quantity="4")]})
    again = counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, quantity="4")]})
    assert again["accepted"] == 0 and again["duplicates"] == 1 and again["line_count"] == 1
    counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, quantity="5")]},
                    ErrorCode.LINE_CONFLICT)
    refund = counter.ok(T.FEE_UPLOAD, {"registration_no": registration,
                                       "lines": [line(2, quantity="-1", refund_of=1)]})
    assert refund["total"] == "1.50"
    too_much = counter.refused(T.FEE_UPLOAD, {"registration_no": registration,
                                              "lines": [line(3, quantity="-4", refund_of=1)]}, ErrorCode.LINE_INVALID)
    assert "净数量" in too_much.err_msg


def test_fee_cancel_and_its_guard_on_refunded_originals(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration,
                              "lines": [line(1, quantity="4"), line(2, quantity="-1", refund_of=1), line(3)]})
    counter.refused(T.FEE_CANCEL, {"registration_no": registration, "seqs": [1]}, ErrorCode.LINE_INVALID)
    output = counter.ok(T.FEE_CANCEL, {"registration_no": registration, "seqs": [1, 2]})
    assert output["cancelled"] == [1, 2] and output["line_count"] == 1
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, quantity="7")]})  # seq reusable


# --- settlement ---------------------------------------------------------------------------


def _stay_lines() -> list[dict[str, Any]]:
    return [
        line(1, "XB01AC06", "30", "0.50", injury=True),
        line(2, "XC08CA01", "10", "1.20", name="苯磺酸氨氯地平片", injury=None, diagnosis="I10"),  # illness
        line(3, "110900001", "3", "45.00", category="treatment", name="床位费（三人间）"),
        line(4, "C0104001006", "4", "400.00", category="consumable", name="锁定螺钉（直径3.5mm）"),  # over limit
        line(5, "ZZ-OUTSIDE", "1", "88.00", category="treatment", name="目录外检查"),
        line(6, "XB01AC06", "-10", "0.50", refund_of=1),
    ]


def test_pre_settlement_and_settlement_equal_the_rules_on_the_same_case(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": _stay_lines()})
    preview = counter.ok(T.PRE_SETTLEMENT, {"registration_no": registration, "discharged": day(0),
                                            "expected_total": "1845.00"})
    settled = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0),
                                        "expected_total": "1845.00"})
    assert settled["settlement_id"].startswith("JS440800")
    for key in ("matrix", "total", "fund_total", "personal_total", "items", "settlement_kind"):
        assert settled[key] == preview[key]
    assert settled["total"] == "1845.00"
    buckets = {item["seq"]: item["bucket"] for item in settled["items"]}
    assert buckets == {1: "fund", 2: "non_injury", 3: "fund", 4: "over_limit", 5: "self_pay", 6: "fund"}
    assert settled["matrix"]["over_limit"]["consumable"] == "80.00"  # 4 × (400 − 380), 003 §3
    assert Decimal(settled["fund_total"]) + Decimal(settled["personal_total"]) == Decimal(settled["total"])
    # the counter computing the same case with the same rules gets the same figures
    case = _case_like_counter(registration, _stay_lines())
    assert compute(case).as_json()["matrix"] == settled["matrix"]


def _case_like_counter(registration: str, lines: list[dict[str, Any]]) -> Any:
    catalogue = [
        {"code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "price_limit": "0.50"},
        {"code": "XC08CA01", "name": "苯磺酸氨氯地平片", "category": "drug", "price_limit": "0.80"},
        {"code": "110900001", "name": "床位费（三人间）", "category": "treatment", "price_limit": "45.00", "per_day": True},
        {"code": "C0104001006", "name": "锁定螺钉（直径3.5mm）", "category": "consumable", "price_limit": "380.00"},
    ]
    return parse_case({
        "format": "wi-counter-case/1", "profile": "local",
        "institution": {"code": HOSPITAL, "name": "湛江市第一人民医院", "province": "广东省", "city": "湛江市",
                        "city_code": "440800", "level": "三级甲等"},
        "worker": {"name": "张伟", "sex": "男", "id_number": ZHANG_WEI,
                   "insured_place": {"province": "广东省", "city": "湛江市", "city_code": "440800"}},
        "recognition": None, "filing": None,
        "stay": {"care": "medical", "admitted": day(-3), "admission_no": "ZY0001", "dept": "骨科", "settled": day(0), "registration_no": registration,
                 "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True},
                               {"code": "I10", "name": "原发性高血压", "injury": False}]},
        "catalogue": catalogue, "items": lines})


def test_settlement_refusals(counter: Counter) -> None:
    registration = admit(counter)
    counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                    ErrorCode.REGISTRATION_STATE)  # no lines
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration,
                              "lines": [line(1, injury=None, diagnosis="Z99.999")]})
    unclassified = counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                                   ErrorCode.UNCLASSIFIED_LINES)
    assert unclassified.output["unclassified"] == [1]
    counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0), "expected_total": "5.00"},
                    ErrorCode.LINE_INVALID)
    counter.refused(T.SETTLEMENT, {"registration_no": "ZY-NOPE", "discharged": day(0)},
                    ErrorCode.REGISTRATION_NOT_FOUND)


def test_cancellation_negates_and_reopens_and_reconciliation_counts_both(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": _stay_lines()})
    settled = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                    ErrorCode.REGISTRATION_STATE)  # never settled twice
    cancelled = counter.ok(T.SETTLEMENT_CANCEL, {"settlement_id": settled["settlement_id"], "reason": "金额有误"})
    assert cancelled["total"] == "-1845.00" and cancelled["cancellation_id"].startswith("CX")
    counter.refused(T.SETTLEMENT_CANCEL, {"settlement_id": settled["settlement_id"]}, ErrorCode.SETTLEMENT_STATE)
    again = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    totals = counter.ok(T.RECONCILE_TOTALS, {"date": TODAY.isoformat()})
    assert totals["settlements"] == {"count": 2, "total": "3690.00", "fund_total": _double(settled["fund_total"]),
                                     "personal_total": _double(settled["personal_total"])}
    assert totals["cancellations"]["count"] == 1 and totals["cancellations"]["total"] == "-1845.00"
    assert totals["net"]["count"] == 1 and totals["net"]["total"] == "1845.00"
    details = counter.ok(T.RECONCILE_DETAILS, {"date": TODAY.isoformat()})
    assert [(r["kind"], r["settlement_id"]) for r in details["records"]] == [
        ("settlement", settled["settlement_id"]), ("cancellation", settled["settlement_id"]),
        ("settlement", again["settlement_id"])]


def _double(text: str) -> str:
    return wire.money(Decimal(text) * 2)


def test_national_referral_filing_is_consumed_by_settlement(counter: Counter) -> None:
    """一次一备: the referral filing lapses once the stay is settled (000 §10)."""
    ma = _ssn(counter, "马国强")
    registration = admit(counter, ma, diagnoses=[{"code": "S27.000", "name": "创伤性气胸", "injury": True}])
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]})
    settled = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    assert settled["settlement_kind"] == "跨省异地就医"
    refused = counter.refused(T.ADMISSION, {"social_security_number": ma, "care": "medical", "admitted": day(0),
                                            "diagnoses": []}, ErrorCode.NOT_ELIGIBLE)
    assert "FILING_ALREADY_USED" in [r["code"] for r in refused.output["verdict"]["reasons"]]
    counter.ok(T.SETTLEMENT_CANCEL, {"settlement_id": settled["settlement_id"]})  # gives the filing back
    person = counter.ok(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ma})
    assert person["filings"][0]["used_by_settlement"] is False


# --- reversal and outcome query -----------------------------------------------------------


def test_reversal_of_a_settlement_and_of_its_cancellation(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": _stay_lines()})
    request = counter.request(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    settled = counter.send(request).output
    reversal = counter.ok(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2304"})
    assert reversal == {"omsgid": request.msgid, "oinfno": "2304", "outcome": "reversed", "changed": True}
    repeat = counter.ok(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2304"})
    assert repeat["outcome"] == "reversed" and repeat["changed"] is False  # safe to repeat
    status = counter.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})
    assert status["outcome"] == "reversed" and status["output"]["settlement_id"] == settled["settlement_id"]
    totals = counter.ok(T.RECONCILE_TOTALS, {"date": TODAY.isoformat()})
    assert totals["net"] == {"count": 0, "total": "0.00", "fund_total": "0.00", "personal_total": "0.00"}
    # settle again, cancel, reverse the cancellation: the settlement is live once more
    second = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    cancel = counter.request(T.SETTLEMENT_CANCEL, {"settlement_id": second["settlement_id"]})
    assert counter.send(cancel).ok
    counter.ok(T.REVERSAL, {"omsgid": cancel.msgid, "oinfno": "2305"})
    counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                    ErrorCode.REGISTRATION_STATE)
    assert counter.ok(T.RECONCILE_TOTALS, {"date": TODAY.isoformat()})["net"]["count"] == 1


def test_reversal_voids_a_msgid_never_received_so_a_late_arrival_is_refused(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": _stay_lines()})
    late = counter.request(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    assert counter.ok(T.OUTCOME_QUERY, {"omsgid": late.msgid})["outcome"] == "unknown"
    voided = counter.ok(T.REVERSAL, {"omsgid": late.msgid, "oinfno": "2304"})
    assert voided["outcome"] == "voided" and voided["changed"] is True
    assert counter.send(late).err_code is ErrorCode.MSGID_VOIDED
    assert counter.centre.connection.execute("SELECT count(*) FROM settlement").fetchone()[0] == 0
    assert counter.ok(T.OUTCOME_QUERY, {"omsgid": late.msgid})["outcome"] == "voided"


def test_reversal_of_upload_admission_and_line_cancel(counter: Counter) -> None:
    registration_request = counter.request(T.ADMISSION, {
        "social_security_number": ZHANG_WEI, "care": "medical", "admitted": day(-2), "diagnoses": []})
    registration = counter.send(registration_request).output["registration_no"]
    upload = counter.request(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1), line(2)]})
    assert counter.send(upload).ok
    cancel = counter.request(T.FEE_CANCEL, {"registration_no": registration, "seqs": [2]})
    assert counter.send(cancel).output["line_count"] == 1
    counter.ok(T.REVERSAL, {"omsgid": cancel.msgid, "oinfno": "2302"})
    assert counter.ok(T.PRE_SETTLEMENT, {"registration_no": registration, "discharged": day(0)})["total"] == "2.00"
    counter.ok(T.REVERSAL, {"omsgid": upload.msgid, "oinfno": "2301"})
    counter.refused(T.PRE_SETTLEMENT, {"registration_no": registration, "discharged": day(0)},
                    ErrorCode.REGISTRATION_STATE)  # no live lines any more
    counter.ok(T.REVERSAL, {"omsgid": registration_request.msgid, "oinfno": "2401"})
    admit(counter)  # the person can be admitted again


def test_reversal_refusals(counter: Counter) -> None:
    lookup = counter.request(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI})
    counter.send(lookup)
    counter.refused(T.REVERSAL, {"omsgid": lookup.msgid, "oinfno": "1101"}, ErrorCode.NOT_REVERSIBLE)
    counter.refused(T.REVERSAL, {"omsgid": "H44080100099202601010000000001", "oinfno": "2304"},
                    ErrorCode.MALFORMED_REQUEST)  # another institution's msgid
    failed = counter.request(T.SETTLEMENT, {"registration_no": "ZY-NOPE", "discharged": day(0)})
    assert counter.send(failed).err_code is ErrorCode.REGISTRATION_NOT_FOUND
    assert counter.ok(T.REVERSAL, {"omsgid": failed.msgid, "oinfno": "2304"})["outcome"] == "failed"


# --- monthly claims -----------------------------------------------------------------------


def _settle_one(counter: Counter, ssn: str, lines: list[dict[str, Any]], **extra: Any) -> str:
    registration = admit(counter, ssn, **extra)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": lines})
    return str(counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})["settlement_id"])


def test_monthly_claim_upload_in_chunks_and_audit_deductions(counter: Counter) -> None:
    period = TODAY.strftime("%Y-%m")
    # bed day charged twice on one day: the agency deducts the excess (003 §15 over-standard, 003 §20)
    doubled = _settle_one(counter, ZHANG_WEI, [
        line(1, "110900001", "1", "45.00", category="treatment", name="床位费（三人间）", date=-2),
        line(2, "110900001", "1", "45.00", category="treatment", name="床位费（三人间）", date=-2),
        line(3, "110900001", "1", "45.00", category="treatment", name="床位费（三人间）", date=-1)])
    plain = _settle_one(counter, _ssn(counter, "刘洋"), [line(1)],
                        diagnoses=[{"code": "T23.200", "name": "手部二度烧伤", "injury": True}])
    claim = {"claim_no": f"YJ-{HOSPITAL}-{period}", "period": period, "chunks": 2}
    first = counter.ok(T.CLAIM_UPLOAD, {**claim, "chunk": 1, "settlement_ids": [doubled]})
    assert first["status"] == "receiving" and first["received_chunks"] == [1]
    counter.refused(T.CLAIM_UPLOAD, {**claim, "chunk": 1, "settlement_ids": [plain]}, ErrorCode.CLAIM_INVALID)
    counter.refused(T.SETTLEMENT_CANCEL, {"settlement_id": doubled}, ErrorCode.ALREADY_CLAIMED)
    last = counter.ok(T.CLAIM_UPLOAD, {**claim, "chunk": 2, "settlement_ids": [plain]})
    assert last["status"] == "submitted" and last["received_chunks"] == [1, 2]
    status = counter.ok(T.CLAIM_STATUS, {"claim_no": claim["claim_no"]})
    assert status["status"] == "audited"
    entries = {e["settlement_id"]: e for e in status["entries"]}
    assert entries[doubled]["deduction"] == "45.00" and "超过每日 1 次" in entries[doubled]["deduction_reason"]
    assert entries[plain]["deduction"] == "0.00"
    assert entries[doubled]["fund_settled"] == wire.money(Decimal(entries[doubled]["fund_total"]) - 45)
    assert status["totals"]["count"] == 2 and status["totals"]["deduction"] == "45.00"
    counter.refused(T.CLAIM_STATUS, {"claim_no": "NOPE"}, ErrorCode.CLAIM_NOT_FOUND)


def test_a_settlement_is_claimed_at_most_once_and_chunks_can_be_reversed(counter: Counter) -> None:
    period = TODAY.strftime("%Y-%m")
    settlement = _settle_one(counter, ZHANG_WEI, [line(1)])
    chunk = counter.request(T.CLAIM_UPLOAD, {"claim_no": "A", "period": period, "chunk": 1, "chunks": 2,
                                             "settlement_ids": [settlement]})
    assert counter.send(chunk).ok
    counter.refused(T.CLAIM_UPLOAD, {"claim_no": "B", "period": period, "chunk": 1, "chunks": 1,
                                     "settlement_ids": [settlement]}, ErrorCode.ALREADY_CLAIMED)
    counter.ok(T.REVERSAL, {"omsgid": chunk.msgid, "oinfno": "3301"})
    assert counter.ok(T.CLAIM_UPLOAD, {"claim_no": "B", "period": period, "chunk": 1, "chunks": 1,
                                       "settlement_ids": [settlement]})["status"] == "submitted"


def test_outputs_never_hold_a_float(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": _stay_lines()})
    rows = counter.centre.connection.execute("SELECT output FROM call").fetchall()
    for row in rows:
        json.loads(row[0], parse_float=lambda text: pytest.fail(f"float in an output: {text}"))


def test_a_catalogue_change_is_a_new_version_with_only_the_changed_entries(counter: Counter) -> None:
    version = seed.change_catalogue(counter.centre.connection, [
        {"code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "unit": "片", "price_limit": "0.45"},
        {"code": "XNEW0001", "name": "新增药品", "category": "drug", "unit": "片", "price_limit": None},
        {"code": "XZ00010", "name": "独一味胶囊", "category": "drug", "valid": False}])
    assert version == 2
    delta = counter.ok(T.CATALOGUE_DOWNLOAD, {"since_version": 1})
    assert delta["version"] == 2 and {e["code"]: e["valid"] for e in delta["entries"]} == {
        "XB01AC06": True, "XNEW0001": True, "XZ00010": False}
    assert next(e for e in delta["entries"] if e["code"] == "XB01AC06")["price_limit"] == "0.45"
    # the new limit applies to settlements from now on (003 §3)
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, "XB01AC06", "10", "0.50")]})
    settled = counter.ok(T.PRE_SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    assert settled["matrix"]["over_limit"]["drug"] == "0.50"
    with pytest.raises(ConfigurationError, match="小数"):
        seed.change_catalogue(counter.centre.connection, [{"code": "X", "name": "x", "category": "drug",
                                                           "price_limit": 1.5}])


def test_card_lookup_checks_the_card_identifier_region(counter: Counter) -> None:
    found = counter.ok(T.PERSON_LOOKUP, {"by": "card", "value": "A44080001",
                                         "card_identifier": "440800" + "0" * 25 + "1"})
    assert found["person"]["social_security_number"] == ZHANG_WEI
    mismatch = counter.refused(T.PERSON_LOOKUP, {"by": "card", "value": "A44080001",
                                                 "card_identifier": "440100" + "0" * 26}, ErrorCode.CARD_INVALID)
    assert "440100" in mismatch.err_msg


def test_line_dates_must_fall_within_the_stay(counter: Counter) -> None:
    registration = admit(counter, admitted=-3)
    early = counter.refused(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, date=-4)]},
                            ErrorCode.LINE_INVALID)
    assert early.output["problems"][0]["path"] == "$.lines[0].date"
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, date=-3), line(2, date=0)]})
    late = counter.refused(T.SETTLEMENT, {"registration_no": registration, "discharged": day(-1)},
                           ErrorCode.LINE_INVALID)
    assert [p["seq"] for p in late.output["problems"]] == [2]
    counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})


def test_reversal_of_an_admission_cancel_reopens_unless_the_person_moved_on(counter: Counter) -> None:
    registration = admit(counter)
    cancel = counter.request(T.ADMISSION_CANCEL, {"registration_no": registration})
    assert counter.send(cancel).ok
    counter.ok(T.REVERSAL, {"omsgid": cancel.msgid, "oinfno": "2404"})
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]})  # open again
    second_cancel = counter.request(T.ADMISSION_CANCEL, {"registration_no": registration})
    assert counter.send(second_cancel).ok
    admit(counter)  # a new stay for the same person
    refused = counter.refused(T.REVERSAL, {"omsgid": second_cancel.msgid, "oinfno": "2404"}, ErrorCode.NOT_REVERSIBLE)
    assert "新的就医登记" in refused.err_msg


def test_a_cancellation_cannot_be_reversed_once_the_stay_is_settled_again(counter: Counter) -> None:
    registration = admit(counter)
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1)]})
    first = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    cancel = counter.request(T.SETTLEMENT_CANCEL, {"settlement_id": first["settlement_id"]})
    assert counter.send(cancel).ok
    counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    counter.refused(T.REVERSAL, {"omsgid": cancel.msgid, "oinfno": "2305"}, ErrorCode.NOT_REVERSIBLE)
    totals = counter.ok(T.RECONCILE_TOTALS, {"date": TODAY.isoformat()})
    assert totals["net"]["count"] == 1  # one live settlement, whatever was tried


def test_reconciliation_details_are_paged(counter: Counter) -> None:
    for name in ("刘洋", "宋涛", "唐亮"):
        _settle_one(counter, _ssn(counter, name), [line(1)])
    first = counter.ok(T.RECONCILE_DETAILS, {"date": TODAY.isoformat(), "page": 1, "page_size": 2})
    second = counter.ok(T.RECONCILE_DETAILS, {"date": TODAY.isoformat(), "page": 2, "page_size": 2})
    assert first["total"] == 3 and first["pages"] == 2
    assert len(first["records"]) == 2 and len(second["records"]) == 1
    other_day = counter.ok(T.RECONCILE_TOTALS, {"date": day(-1)})
    assert other_day["settlements"]["count"] == 0


# --- who sends: 终端号, fingerprints (issue 21) -------------------------------------------------


def _registered(centre: SandboxCentre, counter_id: str) -> tuple[Counter, str]:
    """A counter that signs in with its identity; its 终端号."""
    client = Counter(centre)
    output = client.ok(T.SIGN_IN, {"counter_id": counter_id})
    client.sign_no = output["sign_no"]
    client.terminal_no = output["terminal_no"]
    return client, output["terminal_no"]


def test_sign_in_registers_each_counter_under_its_own_terminal_number_for_good(centre: SandboxCentre) -> None:
    first, first_no = _registered(centre, "a" * 16)
    second, second_no = _registered(centre, "b" * 16)
    assert first_no != second_no and {first_no, second_no} <= {f"{n:02d}" for n in range(1, 100)}
    assert _registered(centre, "a" * 16)[1] == first_no  # the same identity keeps its number
    legacy = Counter(centre).ok(T.SIGN_IN, {})  # no identity: no number (an older client)
    assert "terminal_no" not in legacy
    Counter(centre).refused(T.SIGN_IN, {"counter_id": "NOT-HEX"}, ErrorCode.MALFORMED_REQUEST)

    # A registered counter may not use another's 终端号 in its msgids (refused, not recorded).
    stolen = wire.make_terminal_msgid(HOSPITAL, wire.now(), second_no, 1)
    reply = first.call(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}, msgid=stolen)
    assert reply.err_code is ErrorCode.BAD_MSGID
    assert centre.connection.execute("SELECT count(*) FROM call WHERE msgid = ?", (stolen,)).fetchone()[0] == 0
    own = wire.make_terminal_msgid(HOSPITAL, wire.now(), first_no, 1)
    assert first.call(T.PERSON_LOOKUP, {"by": "social_security_number", "value": ZHANG_WEI}, msgid=own).ok


def test_5101_says_whose_call_a_msgid_holds_and_2601_never_reverses_another_callers_call(
        centre: SandboxCentre) -> None:
    counter, _ = _registered(centre, "c" * 16)
    data = {"social_security_number": ZHANG_WEI, "recognition_no": None, "filing_id": None, "care": "medical",
            "admission_no": "ZY0009", "dept": "骨科", "admitted": day(-1), "emergency": False,
            "third_party_liability": False,
            "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True}]}
    request = counter.request(T.ADMISSION, data)
    assert counter.send(request).ok
    found = counter.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})
    assert found["outcome"] == "applied"
    assert found["fingerprint"] == wire.request_fingerprint(data) and found["counter_id"] == "c" * 16
    unknown = counter.ok(T.OUTCOME_QUERY, {"omsgid": counter.msgid()})
    assert (unknown["fingerprint"], unknown["counter_id"]) == ("", "")

    # A reversal whose original (as its sender knows it) is another request: refused, nothing undone.
    other = dict(data, admission_no="ZY-ELSEWHERE")
    refused = counter.call(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2401",
                                        "ofingerprint": wire.request_fingerprint(other)})
    assert refused.err_code is ErrorCode.NOT_REVERSIBLE
    assert counter.ok(T.OUTCOME_QUERY, {"omsgid": request.msgid})["outcome"] == "applied"
    # With the right fingerprint it is the caller's own: reversed.
    done = counter.ok(T.REVERSAL, {"omsgid": request.msgid, "oinfno": "2401",
                                   "ofingerprint": wire.request_fingerprint(data)})
    assert done["outcome"] == "reversed"


# --- 5201: what the centre holds since a time (a counter restored from a backup, issue 21 B2) ---------


def test_registration_query_lists_what_was_touched_since_a_time_with_lines_and_settlements(counter: Counter) -> None:
    earlier = _settle_one(counter, _ssn(counter, "刘洋"), [line(1)],
                          diagnoses=[{"code": "T23.200", "name": "手部二度烧伤", "injury": True}])
    counter.centre.connection.execute("UPDATE call SET received_at = '2020-01-01 08:00:00'")  # long before
    cancelled = _settle_one(counter, ZHANG_WEI, [line(1), line(2)])
    counter.ok(T.SETTLEMENT_CANCEL, {"settlement_id": cancelled, "reason": "错结"})
    msgid = counter.msgid()
    reversed_no = counter.send(counter.request(T.ADMISSION, {
        "social_security_number": _ssn(counter, "宋涛"), "recognition_no": None, "filing_id": None, "care": "medical",
        "admission_no": "ZY0002", "dept": "骨科", "admitted": day(-1), "emergency": False,
        "third_party_liability": False, "diagnoses": [{"code": "S82.201", "name": "胫骨干骨折", "injury": True}]},
        msgid=msgid)).output["registration_no"]
    counter.ok(T.REVERSAL, {"omsgid": msgid, "oinfno": "2401"})  # never happened: not listed

    since = counter.ok(T.REGISTRATION_QUERY, {"since": "2021-01-01 00:00:00"})
    assert since["total"] == 1 and reversed_no not in json.dumps(since)
    (record,) = since["records"]
    assert (record["admission_no"], record["social_security_number"], record["status"]) == ("ZY0001", ZHANG_WEI, "open")
    assert (record["line_count"], record["line_total"]) == (2, "2.00")
    (settlement,) = record["settlements"]
    assert (settlement["settlement_id"], settlement["status"]) == (cancelled, "cancelled")
    assert settlement["cancellation_id"].startswith("CX")

    everything = counter.ok(T.REGISTRATION_QUERY, {"since": None, "page_size": 1})
    assert everything["total"] == 2 and everything["pages"] == 2
    second = counter.ok(T.REGISTRATION_QUERY, {"since": None, "page": 2, "page_size": 1})
    settled = [r for r in everything["records"] + second["records"] if r["status"] == "settled"]
    assert [s["settlement_id"] for s in settled[0]["settlements"]] == [earlier]
    counter.refused(T.REGISTRATION_QUERY, {"since": "yesterday"}, ErrorCode.MALFORMED_REQUEST)
