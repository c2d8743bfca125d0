"""Monthly claims at the real sandbox centre, over HTTP (`docs/centre-interface.md` 3301, 3302, 2305).

- a settlement cancelled after its claim is complete stays claimed, and its cancellation is claimed in a
  later claim as a correction: the negated amounts and the negated deduction, so the hospital gives back
  exactly what it was paid (`003 §20`: the agency settles what was claimed, less its deductions);
- no cancellation while its claim is still receiving chunks; a cancellation of a settlement never claimed
  is not claimed either;
- the audit's deductions line by line, with the counter's seq (`003 §15`: an item charged by the day counts
  once a day; costs after discharge are not paid), read through the JSON adapter too;
- totals add up, corrections included;
- a chunk whose reply was lost after commit, resolved by its msgid, is applied exactly once.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import sqlite3
import urllib.error
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from app.centre import wire
from app.centre.gateway import ClaimLineDeduction
from app.centre.json_adapter import JsonCentre
from app.sandbox import store
from app.centre.wire import ErrorCode, Transaction as T
from tests.centre.sandbox_process import TEST_KEY, RawClient, SandboxProcess

# Local workers of the seed (resources/sandbox/workers.toml) and their recognised diagnoses.
ZHANG_WEI = ("440802198503151236", "S82.201", "胫骨干骨折")
LIU_YANG = ("440802198805120638", "T23.200", "手部二度烧伤")
SONG_TAO = ("440881196502170618", "J62.800", "其他含硅粉尘引起的尘肺（矽肺）")  # recognised 480 days ago
TANG_LIANG = ("440803199704050651", "S06.000", "脑震荡")
DENG_HUI = ("440805199206150660", "T67.000", "中暑")

BED = ("110900001", "床位费（三人间）", "45.00")  # per_day in the catalogue, price limit 45.00
NURSING = ("111100002", "Ⅱ级护理", "18.00")  # per_day, price limit 18.00
DRUG = ("XB01AC06", "阿司匹林肠溶片", "0.50")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("sandbox-claims")).start()
    yield process
    process.stop()


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[RawClient]:
    sandbox.admin("DELETE", "/admin/faults")
    raw = RawClient(sandbox.url)
    raw.sign_in()
    yield raw
    sandbox.admin("DELETE", "/admin/faults")


def today() -> dt.date:
    """The centre's business date (Beijing time)."""
    return wire.now().date()


def period_of(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def line(seq: int, item: tuple[str, str, str], day: dt.date, quantity: str = "1",
         refund_of: int | None = None) -> dict[str, Any]:
    code, name, price = item
    category = "drug" if code.startswith("X") else "treatment"
    amount = wire.money(Decimal(quantity) * Decimal(price))
    return {"seq": seq, "code": code, "name": name, "category": category, "quantity": quantity, "unit_price": price,
            "amount": amount, "date": day.isoformat(), "diagnosis": None, "injury": True, "refund_of": refund_of}


def settle(client: RawClient, person: tuple[str, str, str], lines: list[dict[str, Any]], admitted: dt.date,
           discharged: dt.date, settled: dt.date | None = None) -> dict[str, Any]:
    """Admit, upload the lines, settle (on `settled`, which may be in a past month): the 2304 output."""
    ssn, code, name = person
    registration = client.ok(T.ADMISSION, {
        "social_security_number": ssn, "care": "medical", "admitted": admitted.isoformat(),
        "diagnoses": [{"code": code, "name": name, "injury": True}]})["registration_no"]
    client.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": lines})
    data = {"registration_no": registration, "discharged": discharged.isoformat()}
    if settled is not None:
        data["settled"] = settled.isoformat()
    return client.ok(T.SETTLEMENT, data)


def settle_simple(client: RawClient, person: tuple[str, str, str]) -> dict[str, Any]:
    return settle(client, person, [line(1, DRUG, today() - dt.timedelta(days=1), "10")],
                  today() - dt.timedelta(days=2), today())


def claim(client: RawClient, claim_no: str, period: str, ids: list[str], chunk: int = 1,
          chunks: int = 1) -> wire.Reply:
    return client.call(T.CLAIM_UPLOAD, {"claim_no": claim_no, "period": period, "chunk": chunk, "chunks": chunks,
                                        "settlement_ids": ids})


def refused(reply: wire.Reply, code: ErrorCode, *words: str) -> None:
    assert not reply.ok and reply.err_code is code, (reply.err_code, reply.err_msg)
    for word in words:
        assert word in reply.err_msg, reply.err_msg


def cancel_admission(client: RawClient, registration_no: str) -> None:
    """A cancelled settlement leaves its registration open: close it so the person is free again."""
    client.ok(T.ADMISSION_CANCEL, {"registration_no": registration_no})


def money(text: str) -> Decimal:
    return Decimal(text)


def assert_totals_add_up(status: dict[str, Any]) -> None:
    assert "-0.00" not in json.dumps(status)  # a zero is "0.00", negated or not
    entries = status["entries"]
    assert status["totals"]["count"] == len(entries)
    for key in ("total", "fund_total", "personal_total", "deduction", "fund_settled"):
        assert money(status["totals"][key]) == sum((money(e[key]) for e in entries), Decimal("0.00")), key
    for entry in entries:
        assert money(entry["fund_settled"]) == money(entry["fund_total"]) - money(entry["deduction"])
        if entry["kind"] == "settlement":
            assert money(entry["deduction"]) == sum((money(item["amount"]) for item in entry["lines"]),
                                                    Decimal("0.00"))
            assert entry["deduction_reason"] == "；".join(item["reason"] for item in entry["lines"])


def first_of_month() -> dt.date:
    return today().replace(day=1)


# --- a settlement cancelled after it was claimed is corrected in a later claim ---------------------------


def test_a_settlement_cancelled_after_its_claim_is_corrected_in_a_later_claim(
        sandbox: SandboxProcess, client: RawClient) -> None:
    # Last month: a stay settled on the month's last day, with a bed day charged twice (deducted).
    last_day = first_of_month() - dt.timedelta(days=1)
    last_period = period_of(last_day)
    stay_day = last_day - dt.timedelta(days=1)
    original = settle(client, SONG_TAO, [line(1, BED, stay_day), line(2, BED, stay_day),
                                         line(3, DRUG, stay_day, "10")],
                      admitted=last_day - dt.timedelta(days=2), discharged=last_day, settled=last_day)
    settlement_id = original["settlement_id"]
    first = f"YJ-T1-{last_period}"
    assert claim(client, first, last_period, [settlement_id]).output["status"] == "submitted"
    before = client.ok(T.CLAIM_STATUS, {"claim_no": first})
    [claimed] = before["entries"]
    assert claimed["kind"] == "settlement" and claimed["cancellation_id"] == ""
    assert claimed["deduction"] == "45.00"  # 003 §15: the second bed day of the same day
    assert claimed["admitted"] == (last_day - dt.timedelta(days=2)).isoformat()
    assert claimed["discharged"] == last_day.isoformat() and claimed["insured_place"] == "湛江市"

    # This month the settlement is cancelled: allowed, its claim is complete; the claim keeps it (it was paid).
    cancel = client.request(T.SETTLEMENT_CANCEL, {"settlement_id": settlement_id, "reason": "结算有误"})
    cancellation = client.send(cancel).output
    cancellation_id = cancellation["cancellation_id"]
    assert client.ok(T.CLAIM_STATUS, {"claim_no": first}) == before

    # The correction belongs to the month it was cancelled in, not to last month's claim.
    refused(claim(client, f"YJ-T1-{last_period}-2", last_period, [cancellation_id]), ErrorCode.CLAIM_INVALID,
            cancellation_id, "晚于申报期间")
    # The settlement itself cannot be claimed again; the cancellation is what is claimed.
    refused(claim(client, "YJ-T1-X", period_of(today()), [settlement_id]), ErrorCode.SETTLEMENT_STATE,
            cancellation_id)

    # A chunk holding the correction, reversed while its claim is receiving, takes the correction out again.
    partial = client.request(T.CLAIM_UPLOAD, {"claim_no": "YJ-T1-PARTIAL", "period": period_of(today()),
                                              "chunk": 1, "chunks": 2, "settlement_ids": [cancellation_id]})
    assert client.send(partial).output["status"] == "receiving"
    assert sandbox.summary()["claimed_cancellations"] == 1
    client.ok(T.REVERSAL, {"omsgid": partial.msgid, "oinfno": "3301"})
    summary = sandbox.summary()
    assert summary["claimed_cancellations"] == 0
    assert summary["claim_chunks"]["YJ-T1-PARTIAL"]["per_chunk"]["1"]["applied"] == 1
    assert summary["claim_chunks"]["YJ-T1-PARTIAL"]["per_chunk"]["1"]["reversed"] == 1
    assert summary["claim_chunks"]["YJ-T1-PARTIAL"]["per_chunk"]["1"]["live_cancellations"] == 0

    # This month's claim: the correction and a new settlement.
    other = settle_simple(client, ZHANG_WEI)
    second = f"YJ-T1-{period_of(today())}"
    assert claim(client, second, period_of(today()), [cancellation_id, other["settlement_id"]]).ok
    refused(claim(client, "YJ-T1-AGAIN", period_of(today()), [cancellation_id]), ErrorCode.ALREADY_CLAIMED,
            second)
    status = client.ok(T.CLAIM_STATUS, {"claim_no": second})
    assert status["status"] == "audited"
    correction, new = status["entries"]
    assert correction["kind"] == "cancellation" and new["kind"] == "settlement"
    assert correction["settlement_id"] == settlement_id and correction["cancellation_id"] == cancellation_id
    assert correction["registration_no"] == claimed["registration_no"]
    assert correction["settled"] == today().isoformat()  # the day it was cancelled
    for key in ("total", "fund_total", "personal_total", "deduction", "fund_settled"):
        assert money(correction[key]) == -money(claimed[key]), key  # 003 §20: what was paid is given back
    assert claimed["personal_total"] == correction["personal_total"] == "0.00"
    assert correction["deduction"] == "-45.00" and correction["lines"] == []
    assert settlement_id in correction["deduction_reason"] and first in correction["deduction_reason"]
    assert_totals_add_up(status)
    assert money(status["totals"]["fund_settled"]) == money(new["fund_settled"]) - money(claimed["fund_settled"])

    # A claimed correction cannot be undone by reversing the cancellation.
    refused(client.call(T.REVERSAL, {"omsgid": cancel.msgid, "oinfno": "2305"}), ErrorCode.NOT_REVERSIBLE,
            cancellation_id)
    cancel_admission(client, cancellation["registration_no"])


# --- refusals: while receiving; never claimed -------------------------------------------------------------


def test_no_cancellation_while_its_claim_is_receiving_and_an_unclaimed_cancellation_is_not_claimed(
        sandbox: SandboxProcess, client: RawClient) -> None:
    settled = settle_simple(client, LIU_YANG)
    settlement_id = settled["settlement_id"]
    chunk = client.request(T.CLAIM_UPLOAD, {"claim_no": "YJ-T2", "period": period_of(today()), "chunk": 1,
                                            "chunks": 2, "settlement_ids": [settlement_id]})
    assert client.send(chunk).output["status"] == "receiving"
    refused(client.call(T.SETTLEMENT_CANCEL, {"settlement_id": settlement_id, "reason": "x"}),
            ErrorCode.ALREADY_CLAIMED, "YJ-T2", "尚未上传完成")
    # The chunk reversed, the settlement is no longer claimed: it is cancelled like any other.
    client.ok(T.REVERSAL, {"omsgid": chunk.msgid, "oinfno": "3301"})
    cancellation_id = client.ok(T.SETTLEMENT_CANCEL, {"settlement_id": settlement_id, "reason": "x"})[
        "cancellation_id"]
    # Cancelled before it was claimed: neither the settlement nor its cancellation is claimed.
    refused(claim(client, "YJ-T2-B", period_of(today()), [cancellation_id]), ErrorCode.CLAIM_INVALID,
            cancellation_id, "未曾申报")
    refused(claim(client, "YJ-T2-B", period_of(today()), [settlement_id]), ErrorCode.SETTLEMENT_STATE)
    # Another institution's cancellation is not found.
    other = RawClient(sandbox.url, institution="H44080100099", institution_name="湛江市第二人民医院")
    other.sign_in()
    refused(claim(other, "YJ-T2-OTHER", period_of(today()), [cancellation_id]), ErrorCode.SETTLEMENT_NOT_FOUND)
    # Refusals changed nothing.
    for claim_no in ("YJ-T2-B", "YJ-T2-OTHER"):
        refused(client.call(T.CLAIM_STATUS, {"claim_no": claim_no}), ErrorCode.CLAIM_NOT_FOUND)
    cancel_admission(client, settled["registration_no"])


# --- the audit, line by line --------------------------------------------------------------------------------


def test_per_day_items_are_deducted_on_the_days_last_lines(sandbox: SandboxProcess, client: RawClient) -> None:
    """003 §15: an item charged by the day counts once a day; the fund part of the excess is deducted and
    named on the day's last line(s) by seq."""
    d1, d2, d3 = (today() - dt.timedelta(days=n) for n in (3, 2, 1))
    settled = settle(client, TANG_LIANG, [
        line(1, BED, d2), line(2, BED, d2), line(3, BED, d2),  # three times on one day: seq 2 and 3 deducted
        line(4, BED, d3),  # once: nothing
        line(5, NURSING, d3, "2"),  # one line of two: half of it
        line(6, DRUG, d3, "10"),
        line(7, BED, d1), line(8, BED, d1), line(9, BED, d1, "-1", refund_of=8),  # refunded: once, nothing
    ], admitted=d1, discharged=today())
    assert claim(client, "YJ-T3", period_of(today()), [settled["settlement_id"]]).ok
    status = client.ok(T.CLAIM_STATUS, {"claim_no": "YJ-T3"})
    [entry] = status["entries"]
    assert [(item["seq"], item["code"], item["date"], item["amount"]) for item in entry["lines"]] == [
        (2, BED[0], d2.isoformat(), "45.00"), (3, BED[0], d2.isoformat(), "45.00"),
        (5, NURSING[0], d3.isoformat(), "18.00")]
    assert all("超过每日 1 次" in item["reason"] and "003 §15" in item["reason"] for item in entry["lines"])
    assert entry["lines"][0]["name"] == BED[1]
    assert entry["deduction"] == "108.00"
    assert_totals_add_up(status)

    # The counter reads the same through its adapter: Decimal money, dates, the lines as dataclasses.
    centre = JsonCentre(sandbox.url, TEST_KEY.encode(), client.caller, client.msgid)
    try:
        report = centre.claim_status("YJ-T3")
    finally:
        centre.close()
    [read] = report.entries
    assert read.kind == "settlement" and read.cancellation_id == "" and read.insured_place == "湛江市"
    assert read.admitted == d1 and read.discharged == today()
    assert read.lines[0] == ClaimLineDeduction(2, BED[0], BED[1], d2, Decimal("45.00"), entry["lines"][0]["reason"])
    assert read.deduction == Decimal("108.00") == sum((item.amount for item in read.lines), Decimal(0))
    assert report.deduction_total == Decimal("108.00")


def test_lines_after_discharge_are_deducted_whole(sandbox: SandboxProcess, client: RawClient) -> None:
    """003 §15: costs after the patient met discharge criteria are not paid. The settlement (2304) already
    refuses lines dated after the discharge date (3005), so none settled through the interface has one;
    the agency's audit checks again all the same. The test moves a recorded settlement's discharge date
    back in the sandbox's database: a settlement some other system let through."""
    d1, d2 = today() - dt.timedelta(days=2), today() - dt.timedelta(days=1)
    settled = settle(client, DENG_HUI, [
        line(1, DRUG, d1, "10"), line(2, BED, d1),
        line(3, BED, d2), line(4, BED, d2),  # after the (moved) discharge: deducted whole, not as a per-day excess
        line(5, DRUG, d2, "4"),
    ], admitted=d1, discharged=today())
    fund = {item["seq"]: item["fund"] for item in settled["items"]}
    with sqlite3.connect(sandbox.data_dir / store.DATABASE_NAME, timeout=10) as database:
        database.execute("UPDATE settlement SET discharged = ? WHERE settlement_id = ?",
                         (d1.isoformat(), settled["settlement_id"]))
    database.close()
    assert claim(client, "YJ-T4", period_of(today()), [settled["settlement_id"]]).ok
    status = client.ok(T.CLAIM_STATUS, {"claim_no": "YJ-T4"})
    [entry] = status["entries"]
    assert [(item["seq"], item["amount"]) for item in entry["lines"]] == [
        (3, fund[3]), (4, fund[4]), (5, fund[5])]
    assert all("晚于出院日期" in item["reason"] for item in entry["lines"])
    assert money(entry["deduction"]) == money(fund[3]) + money(fund[4]) + money(fund[5]) == Decimal("92.00")
    assert_totals_add_up(status)


def test_the_hand_audit_deducts_what_no_machine_rule_names(sandbox: SandboxProcess, client: RawClient) -> None:
    """003 §19: the agency audits by machine rules, then by hand. The reviewers' judgement (set through
    /admin/hand-audit) deducts every line of a listed item, fund part net of its refunds, with the
    reviewer's reason; a line a machine rule already deducted is not deducted twice; refunds are not."""
    celecoxib = ("XM01AH01", "塞来昔布胶囊", "3.80")
    with pytest.raises(urllib.error.HTTPError) as bad:  # a malformed list is refused, not half-applied
        sandbox.admin("POST", "/admin/hand-audit", {"items": [{"code": celecoxib[0]}]})
    assert bad.value.code == 400
    sandbox.admin("POST", "/admin/hand-audit", {"items": [
        {"code": celecoxib[0], "reason": "与工伤伤情无关，不予支付"},
        {"code": BED[0], "reason": "床位费与住院天数不符"}]})
    try:
        d1, d2 = today() - dt.timedelta(days=2), today() - dt.timedelta(days=1)
        settled = settle(client, ZHANG_WEI, [
            line(1, celecoxib, d1, "10"),
            line(2, celecoxib, d2, "4"), line(3, celecoxib, d2, "-1", refund_of=2),  # net 3
            line(4, BED, d2), line(5, BED, d2),  # seq 5 is the per-day excess: deducted once, by that rule
            line(6, DRUG, d2, "10"),  # not listed: paid
        ], admitted=d1, discharged=today())
        fund = {item["seq"]: money(item["fund"]) for item in settled["items"]}
        assert claim(client, "YJ-T6", period_of(today()), [settled["settlement_id"]]).ok
        [entry] = client.ok(T.CLAIM_STATUS, {"claim_no": "YJ-T6"})["entries"]
    finally:
        sandbox.admin("POST", "/admin/hand-audit", {"items": []})
    deducted = {item["seq"]: (money(item["amount"]), item["reason"]) for item in entry["lines"]}
    assert sorted(deducted) == [1, 2, 4, 5]
    assert deducted[1][0] == fund[1] == Decimal("38.00") and "人工审核" in deducted[1][1]
    assert deducted[2][0] == fund[2] + fund[3] == Decimal("11.40")
    assert "人工审核" in deducted[4][1] and "超过每日 1 次" in deducted[5][1]
    assert money(entry["deduction"]) == sum((amount for amount, _reason in deducted.values()), Decimal(0))


# --- faults: a chunk's reply lost after commit ----------------------------------------------------------------


def test_a_chunk_dropped_after_commit_and_resolved_by_msgid_is_applied_once(
        sandbox: SandboxProcess, client: RawClient) -> None:
    ids = [settle_simple(client, person)["settlement_id"] for person in (ZHANG_WEI, LIU_YANG, TANG_LIANG)]
    data = {"claim_no": "YJ-T5", "period": period_of(today()), "chunks": 2}
    sandbox.arm("drop_after_commit", "3301")
    first = client.request(T.CLAIM_UPLOAD, {**data, "chunk": 1, "settlement_ids": ids[:2]})
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        client.send(first)
    # Resolved by its msgid: it was applied.
    outcome = client.ok(T.OUTCOME_QUERY, {"omsgid": first.msgid})
    assert outcome["outcome"] == "applied" and outcome["output"]["received_chunks"] == [1]
    # Neither the same msgid nor the same chunk under a new msgid applies it again.
    refused(client.send(first), ErrorCode.DUPLICATE_MSGID)
    refused(client.call(T.CLAIM_UPLOAD, {**data, "chunk": 1, "settlement_ids": ids[:2]}), ErrorCode.CLAIM_INVALID,
            "分片 1 已收到")
    assert client.ok(T.CLAIM_UPLOAD, {**data, "chunk": 2, "settlement_ids": ids[2:]})["status"] == "submitted"

    chunks = sandbox.summary()["claim_chunks"]["YJ-T5"]
    assert chunks["status"] == "audited" and chunks["chunks"] == 2
    assert chunks["per_chunk"]["1"] == {"live_settlements": 2, "live_cancellations": 0, "applied": 1,
                                        "reversed": 0, "msgids": [first.msgid]}
    assert chunks["per_chunk"]["2"]["applied"] == 1 and chunks["per_chunk"]["2"]["live_settlements"] == 1
    status = client.ok(T.CLAIM_STATUS, {"claim_no": "YJ-T5"})
    assert sorted(e["settlement_id"] for e in status["entries"]) == sorted(ids)
    assert_totals_add_up(status)
