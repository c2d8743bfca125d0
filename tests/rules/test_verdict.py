"""The filing verdict, rule by rule and boundary by boundary (../shared/CASES.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.rules.verdict import judge
from tests.rules.base_case import base_case, parsed


def verdict(document: dict[str, Any], stage: str):  # type: ignore[no-untyped-def]
    return judge(parsed(document), stage)


def codes(document: dict[str, Any], stage: str) -> dict[str, bool]:
    return {reason.code: reason.blocking for reason in verdict(document, stage).reasons}


def test_the_example_case_settles_at_both_stages() -> None:
    """003 §14: checked at admission and again at discharge; the example passes both."""
    for stage in ("admission", "discharge"):
        result = verdict(base_case(), stage)
        assert result.allowed and result.reasons == ()
        assert result.settlement_kind == "省内异地就医"


def test_no_recognition_blocks() -> None:
    """003 §5, 000 §4: a recognised injury is a condition of direct settlement."""
    case = base_case()
    case["recognition"] = None
    case["items"] = []
    assert codes(case, "admission") == {"NO_RECOGNITION": True}


def test_terminated_insurance_blocks() -> None:
    """003 §5: insured and the relationship not terminated."""
    case = base_case()
    case["worker"]["insurance_active"] = False
    assert codes(case, "discharge") == {"INSURANCE_TERMINATED": True}


@pytest.mark.parametrize(("profile", "source"), [("guangdong-intra", "003 §5(一)"), ("jilin-intra", "002 经办规程 §17")])
def test_contribution_arrears_block_at_both_stages_where_the_profile_checks_them(profile: str, source: str) -> None:
    """003 §5(一) with §14 (Guangdong) and 002 经办规程 §17 (Jilin): contributions checked at admission
    and at discharge, and arrears block."""
    case = base_case()
    case["profile"] = profile
    case["worker"]["contribution_ok"] = False
    for stage in ("admission", "discharge"):
        result = verdict(case, stage)
        assert {r.code: r.blocking for r in result.reasons} == {"CONTRIBUTION_ARREARS": True}
        assert result.reasons[0].source == source


@pytest.mark.parametrize("profile", ["beijing-cross", "national-cross", "local"])
def test_contribution_arrears_are_a_note_where_the_profile_does_not_check_them(profile: str) -> None:
    """001 §28, 000 §30 check identity and filing only: arrears are listed, not blocking."""
    case = base_case()
    case["profile"] = profile
    case["filing"]["destination"]["province"] = "广东省"
    case["worker"]["contribution_ok"] = False
    assert codes(case, "admission") == {"CONTRIBUTION_ARREARS": False}


def test_third_party_liability_blocks() -> None:
    """000 §3: only costs without third-party liability are settled directly."""
    case = base_case()
    case["stay"]["third_party_liability"] = True
    assert codes(case, "admission") == {"THIRD_PARTY_LIABILITY": True}


def test_an_institution_without_direct_settlement_blocks_remote_kinds_only() -> None:
    """000 §11, 001 §10: the hospital must be a direct-settlement agreement institution."""
    case = base_case()
    case["institution"]["direct_settlement"] = False
    assert codes(case, "admission") == {"NOT_DIRECT_SETTLEMENT_INSTITUTION": True}
    case["profile"] = "local"
    assert codes(case, "admission") == {}


def test_no_filing_blocks_remote_kinds_but_a_local_case_needs_none() -> None:
    """000 §15, 001 §17: no filing, no direct settlement; a local case needs no filing."""
    case = base_case()
    case["filing"] = None
    assert codes(case, "admission") == {"NO_FILING": True}
    case["profile"] = "local"
    result = verdict(case, "discharge")
    assert result.allowed and result.settlement_kind == "本地工伤结算"


def test_cancelled_filing_blocks() -> None:
    """001 §13: only a filing in force allows direct settlement."""
    case = base_case()
    case["filing"]["status"] = "cancelled"
    assert codes(case, "admission") == {"FILING_CANCELLED": True}


@pytest.mark.parametrize(
    ("terminated_on", "stage", "blocked"),
    [
        ("2020-09-22", "admission", True),  # on the check date: blocks
        ("2020-09-23", "admission", False),  # the day after admission: not at admission...
        ("2020-09-23", "discharge", True),  # ...but at discharge it does
        ("2020-11-17", "discharge", True),  # on the settlement date: blocks
        ("2020-11-18", "discharge", False),
    ],
)
def test_termination_on_or_before_the_check_date_blocks(terminated_on: str, stage: str, blocked: bool) -> None:
    """001 §13: entitlement lost during validity terminates the filing; the check date is inclusive."""
    case = base_case()
    case["filing"]["terminated_on"] = terminated_on
    assert ("FILING_TERMINATED" in codes(case, stage)) is blocked


def test_a_terminated_status_without_a_date_blocks() -> None:
    """001 §13: entitlement lost during validity terminates the filing."""
    case = base_case()
    case["filing"]["status"] = "terminated"
    assert codes(case, "admission") == {"FILING_TERMINATED": True}


def test_wrong_city_blocks() -> None:
    """000 §11, 001 §10: the filing names the city; the hospital must be in it."""
    case = base_case()
    case["filing"]["destination"].update({"city": "佛山市", "city_code": "440600"})
    assert codes(case, "admission") == {"WRONG_DESTINATION": True}


def test_a_filing_naming_another_institution_blocks() -> None:
    """002 经办规程 §12: Jilin workers choose one institution in the destination."""
    case = base_case()
    case["profile"] = "jilin-intra"
    case["filing"]["destination"]["institution_code"] = "H44080100002"
    assert codes(case, "admission") == {"WRONG_DESTINATION": True}
    case["filing"]["destination"]["institution_code"] = "H44080100001"
    assert codes(case, "admission") == {}


def test_care_not_covered_blocks() -> None:
    """000 §4, 003 §5: a valid filing for this kind of care (就医 / 康复 / 辅助器具配置)."""
    case = base_case()
    case["filing"]["care"] = ["rehab"]
    assert codes(case, "admission") == {"CARE_NOT_COVERED": True}


@pytest.mark.parametrize(
    ("admitted", "expected"),
    [
        ("2020-09-20", {"FILING_NOT_YET_VALID": True}),
        ("2020-09-21", {}),  # the window's first day is inside
        ("2021-03-20", {"REFERRAL_WINDOW_PASSED": True}),  # last day inside the window, but 180 days after approval
        ("2021-03-21", {"FILING_EXPIRED": True, "REFERRAL_WINDOW_PASSED": True}),
    ],
)
def test_the_window_is_judged_on_the_admission_date_inclusively(admitted: str, expected: dict[str, bool]) -> None:
    """000 §12, 001 §13: validity is judged on the admission date; first and last day inside."""
    case = base_case()
    case["stay"].update({"admitted": admitted, "discharged": None, "settled": None})
    case["recognition"]["injury_date"] = "2020-09-20"
    case["filing"]["filed_on"] = "2020-09-20" if admitted < "2020-09-21" else case["filing"]["filed_on"]
    assert codes(case, "admission") == expected


def test_admitted_within_validity_settles_after_the_window_ends() -> None:
    """000 §12, 001 §13: admitted within validity ⇒ settles at discharge though the filing expired."""
    case = base_case()
    case["profile"] = "beijing-cross"
    case["filing"]["valid_to"] = "2020-11-16"
    result = verdict(case, "discharge")
    assert result.allowed
    assert [(r.code, r.blocking, r.source) for r in result.reasons] == [("ADMITTED_WITHIN_VALIDITY", False, "001 §13")]
    case["filing"]["valid_to"] = "2020-11-17"  # settled on the last day: nothing to say
    assert codes(case, "discharge") == {}


def test_validity_is_judged_on_the_admission_date_at_discharge_too() -> None:
    """000 §12, 001 §13: at discharge too, validity is judged on the admission date."""
    case = base_case()
    case["filing"]["valid_to"] = "2020-09-21"
    assert codes(case, "discharge") == {"FILING_EXPIRED": True}


@pytest.mark.parametrize("profile", ["beijing-cross", "national-cross", "jilin-intra"])
def test_a_filing_completed_after_admission_blocks(profile: str) -> None:
    """001 §17, 000 §15, 002 经办规程 §15: the filing must be completed before admission."""
    case = base_case()
    case["profile"] = profile
    case["filing"]["filed_on"] = "2020-09-23"
    case["filing"]["valid_from"] = "2020-09-21"
    assert codes(case, "discharge") == {"FILED_AFTER_ADMISSION": True}
    case["filing"]["filed_on"] = "2020-09-22"  # the admission day itself is in time
    assert codes(case, "discharge") == {}


@pytest.mark.parametrize(("filed_on", "admission", "discharge"), [
    ("2020-09-22", {}, {}),  # on the admission day: an ordinary filing
    ("2020-09-23", {"NO_FILING": True}, {"ON_THE_SPOT_FILED": False}),
    ("2020-11-17", {"NO_FILING": True}, {"ON_THE_SPOT_FILED": False}),  # on the settlement day: in time
    ("2020-11-18", {"NO_FILING": True}, {"NO_FILING": True}),  # after the settlement: does not help
])
def test_guangdong_files_on_the_spot_and_never_filed_after_admission(
        filed_on: str, admission: dict[str, bool], discharge: dict[str, bool]) -> None:
    """003 §5 (last sentence): the counter guides an unfiled worker to file online on the spot; a filing
    completed by the settlement date covers the stay from admission (its window not applied)."""
    case = base_case()
    case["filing"].update({"filed_on": filed_on, "approved_on": filed_on, "valid_from": filed_on, "valid_to": None})
    assert codes(case, "admission") == admission
    assert codes(case, "discharge") == discharge


def test_an_on_the_spot_filing_is_still_judged_for_status_destination_and_care() -> None:
    """003 §5, §6: the filing made on the spot must still be active, to this city, for this care."""
    case = base_case()
    case["filing"].update({"filed_on": "2020-10-01", "approved_on": "2020-10-01", "valid_from": "2020-10-01",
                           "care": ["rehab"]})
    case["filing"]["destination"].update({"city": "广州市", "city_code": "440100"})
    assert codes(case, "discharge") == {"ON_THE_SPOT_FILED": False, "CARE_NOT_COVERED": True,
                                        "WRONG_DESTINATION": True}


@pytest.mark.parametrize(("profile", "category", "valid_from", "last_day"), [
    ("beijing-cross", "long_term_residence", "2022-03-01", "2023-02-28"),  # 001 §12: one year
    ("beijing-cross", "long_term_work", "2024-02-29", "2025-02-28"),  # no 29 February: the month's last day
    ("beijing-cross", "referral", "2023-01-20", "2023-07-19"),  # 001 §12: six months
    ("national-cross", "referral", "2023-08-31", "2024-02-29"),  # 000 §10: unused for six months lapses
    ("jilin-intra", "referral", "2023-04-10", "2023-10-09"),  # 002 经办规程 §10: at most six months
])
def test_a_filing_without_an_end_date_runs_for_the_seeds_length(
        profile: str, category: str, valid_from: str, last_day: str) -> None:
    """CASES.md: a null `valid_to` never means "forever" where a seed fixes a length."""
    case = base_case()
    case["profile"] = profile
    case["filing"].update({"category": category, "approved_on": valid_from, "valid_from": valid_from,
                           "filed_on": valid_from, "valid_to": None})
    case["recognition"]["injury_date"] = "2020-01-01"
    last = dt.date.fromisoformat(last_day)
    case["stay"].update({"admitted": last_day, "discharged": None, "settled": None})
    assert codes(case, "admission") == {}
    case["stay"]["admitted"] = (last + dt.timedelta(days=1)).isoformat()
    assert codes(case, "admission") == {"FILING_EXPIRED": True}


@pytest.mark.parametrize(("admitted", "discharge"), [
    ("2020-11-20", {"ADMITTED_WITHIN_VALIDITY": False}),  # day 60: within; settled after the window's end
    ("2020-11-21", {"REFERRAL_WINDOW_PASSED": True}),  # day 61: the window passed, not also FILING_EXPIRED
])
def test_a_guangdong_referral_without_an_end_date_runs_for_the_60_day_window(
        admitted: str, discharge: dict[str, bool]) -> None:
    """CASES.md: a Guangdong referral's length is the 60-day window (003 §10)."""
    case = base_case()
    case["filing"]["valid_to"] = None
    case["stay"].update({"admitted": admitted, "discharged": "2020-12-01", "settled": "2020-12-02"})
    assert codes(case, "discharge") == discharge


@pytest.mark.parametrize(("profile", "category"), [
    ("jilin-intra", "long_term_residence"),  # 002 经办规程 §10: until the conditions lapse
    ("guangdong-intra", "long_term_work"),  # 003 §11 sets no length
    ("national-cross", "long_term_residence"),  # 000 §10 fixes only the referral's 6 months
])
def test_where_the_seed_fixes_no_length_a_filing_without_an_end_date_stays_open(profile: str, category: str) -> None:
    case = base_case()
    case["profile"] = profile
    case["filing"].update({"category": category, "valid_to": None})
    case["stay"].update({"admitted": "2020-11-20", "discharged": "2024-01-01", "settled": "2024-01-02"})
    assert codes(case, "discharge") == {}


def test_a_one_time_referral_already_used_blocks_in_the_national_pilot() -> None:
    """000 §10: cross-province referral filings are one per episode (一次一备)."""
    case = base_case()
    case["profile"] = "national-cross"
    case["filing"]["used_by_settlement"] = True
    assert codes(case, "admission") == {"FILING_ALREADY_USED": True}
    case["filing"]["category"] = "long_term_residence"
    assert codes(case, "admission") == {}
    case["filing"]["category"] = "referral"
    case["profile"] = "beijing-cross"
    assert codes(case, "admission") == {}


@pytest.mark.parametrize(("admitted", "passed"), [("2020-11-20", False), ("2020-11-21", True)])
def test_guangdong_referral_must_be_used_within_60_days_of_approval(admitted: str, passed: bool) -> None:
    """003 §10: 自批准之日起60日内 — approved 2020-09-21, day 60 is 2020-11-20."""
    case = base_case()
    case["stay"].update({"admitted": admitted, "discharged": None, "settled": None})
    assert ("REFERRAL_WINDOW_PASSED" in codes(case, "admission")) is passed
    case["profile"] = "beijing-cross"
    assert "REFERRAL_WINDOW_PASSED" not in codes(case, "admission")


def _jilin_emergency() -> dict[str, Any]:
    case = base_case()
    case["profile"] = "jilin-intra"
    case["stay"]["emergency"] = True
    return case


def test_jilin_emergency_without_filing_may_be_admitted_but_not_settled() -> None:
    """002 经办规程 §15: emergency admission proceeds; without back-filing by discharge, claim at home."""
    case = _jilin_emergency()
    case["filing"] = None
    admission = verdict(case, "admission")
    assert admission.allowed and admission.codes == ["EMERGENCY_BACKFILE_REQUIRED"]
    discharge = verdict(case, "discharge")
    assert not discharge.allowed and discharge.codes == ["EMERGENCY_BACKFILE_REQUIRED"]


@pytest.mark.parametrize(("filed_on", "expected"), [
    ("2020-11-17", {"EMERGENCY_BACKFILED": False}),  # on the settlement date: in time
    ("2020-10-01", {"EMERGENCY_BACKFILED": False}),
    ("2020-11-18", {"EMERGENCY_BACKFILE_REQUIRED": True}),  # after settlement: too late
])
def test_jilin_emergency_back_filing_before_settlement_covers_the_stay(filed_on: str, expected: dict[str, bool]) -> None:
    """002 经办规程 §15: a filing completed before discharge settlement covers the stay from admission."""
    case = _jilin_emergency()
    case["filing"].update({"filed_on": filed_on, "approved_on": filed_on, "valid_from": filed_on,
                           "valid_to": None, "category": "long_term_residence"})
    assert codes(case, "discharge") == expected


def test_without_the_emergency_mark_a_late_jilin_filing_blocks() -> None:
    """002 经办规程 §15: without an emergency mark the filing must precede admission."""
    case = base_case()
    case["profile"] = "jilin-intra"
    case["filing"].update({"filed_on": "2020-10-01", "approved_on": "2020-10-01", "valid_from": "2020-10-01"})
    assert codes(case, "discharge") == {"FILED_AFTER_ADMISSION": True, "FILING_NOT_YET_VALID": True}


def test_every_applicable_reason_is_listed_not_only_the_first() -> None:
    """CASES.md: `reasons` lists every reason that applies (003 §5 conditions are cumulative)."""
    case = base_case()
    case["worker"]["insurance_active"] = False
    case["stay"]["third_party_liability"] = True
    case["filing"]["destination"].update({"city": "佛山市", "city_code": "440600"})
    case["filing"]["care"] = ["device"]
    assert codes(case, "discharge") == {
        "INSURANCE_TERMINATED": True, "THIRD_PARTY_LIABILITY": True, "WRONG_DESTINATION": True,
        "CARE_NOT_COVERED": True,
    }


def test_each_reason_has_a_chinese_message_and_a_seed_source() -> None:
    """Every reason names the seed article it rests on."""
    case = base_case()
    case["filing"]["status"] = "cancelled"
    case["filing"]["valid_to"] = "2020-09-21"
    for reason in verdict(case, "discharge").reasons:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason.message)
        assert reason.source.split()[0] in {"000", "001", "002", "003", "004"}
        assert "§" in reason.source


def test_a_jilin_emergency_filing_made_after_the_check_is_not_judged_at_that_check() -> None:
    """002 经办规程 §15: at admission the back-filing does not exist yet, whatever it will say; only the
    reminder to back-file is given (and a filing completed after the settlement date is still missing)."""
    case = _jilin_emergency()
    case["filing"].update({"filed_on": "2020-10-01", "approved_on": "2020-10-01", "valid_from": "2020-10-01",
                           "care": ["rehab"]})
    assert codes(case, "admission") == {"EMERGENCY_BACKFILE_REQUIRED": False}
    assert codes(case, "discharge") == {"EMERGENCY_BACKFILED": False, "CARE_NOT_COVERED": True}
    case["filing"]["filed_on"] = "2020-11-18"
    assert codes(case, "discharge") == {"EMERGENCY_BACKFILE_REQUIRED": True}
