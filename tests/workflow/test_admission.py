"""Admission (入院登记) against the real sandbox centre over HTTP, on SQLite and PostgreSQL.

The filing is checked at admission registration (`003 §14`, `000 §30`), every reason with its
Chinese message and its source; the check, its inputs and its verdict are stored and audited,
also when refused. A refused worker is told what to do next (file online on the spot, `003 §5`,
or pay and claim at home, `000 §15`). Jilin emergency admissions proceed with a back-filing
reminder (`002 经办规程 §15`).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import CentreRefused, Operation
from app.db.models import (
    AuditEvent,
    Diagnosis,
    FilingCheck,
    InjuryRecognition,
    OutboxEntry,
    RecognitionDiagnosis,
    Stay,
    StayStatus,
    Worker,
)
from app.db.models import Filing as FilingRecord
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.workflow.admission import (
    Identification,
    admit,
    look_up,
    mark_diagnoses,
    preview_admission_check,
)
from app.workflow import facts
from app.workflow.common import WorkflowError
from app.workflow.discharge import settle_stay
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    WANG_XIULAN_CARD,
    ZHANG_WEI_CARD,
    ZHENG_JUN_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)


def _checks(ctx: CounterContext) -> list[FilingCheck]:
    with ctx.transaction() as session:
        return list(session.scalars(select(FilingCheck).order_by(FilingCheck.id)))


def _audit_actions(ctx: CounterContext) -> list[str]:
    with ctx.transaction() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_wrong_city_is_refused_with_reasons_sources_and_next_steps(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 郑军's filing names 广州 (440100); this hospital is in 湛江 (440800): the filing must name the
    # city of the agreement institution (`003 §6`, `000 §11`). Filing online fixes it (`003 §5`).
    person, outcome = admit_worker(counter, wf_client, cashier, ZHENG_JUN_CARD, form("ZY-ZJ-1"))

    assert person.name == "郑军"
    assert outcome.stay_id is None and outcome.registration_no is None and not outcome.offline
    check = outcome.check
    assert not check.allowed and check.stage == "admission" and check.settlement_kind == "省内异地就医"
    wrong = [r for r in check.reasons if r.code == "WRONG_DESTINATION"]
    assert len(wrong) == 1 and wrong[0].blocking and wrong[0].source == "003 §6"
    assert "广州市" in wrong[0].message and "湛江市" in wrong[0].message
    # The next step as Guangdong words it (issue 23 §6): change the filing online now, then re-check.
    assert check.next_steps[0] == wrong[0].next_step
    assert "粤省事" in check.next_steps[0] and "003 §6" in check.next_steps[0]
    assert wrong[0].next_step not in check.reasons[0].message[: -len(wrong[0].next_step)]

    stored = _checks(counter)
    assert len(stored) == 1 and stored[0].id == check.check_id
    assert stored[0].stay_id is None and not stored[0].allowed and stored[0].basis == "counter"
    assert {"code": "WRONG_DESTINATION", "blocking": True, "source": "003 §6"}.items() <= stored[0].reasons[0].items()
    assert stored[0].inputs["filing"]["destination"]["city_code"] == "440100"
    assert stored[0].inputs["form"]["admission_no"] == "ZY-ZJ-1"
    assert "filing_checked" in _audit_actions(counter)
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Stay)) == 0
        # The worker's records are kept: the check names them.
        assert session.scalars(select(Worker.name)).one() == "郑军"
        assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0  # nothing sent to the centre
    assert sandbox.summary()["registrations"]["open"] == 0


def test_accepted_admission_is_registered_with_the_centre(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    person, outcome = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form(
        "ZY-ZW-1", diagnoses=(("S82.201", "胫骨干骨折"), ("s82.200", "胫骨骨折"), ("I10", "原发性高血压"))))

    assert outcome.check.allowed and outcome.check.next_steps == ()
    assert outcome.registration_no is not None and outcome.registration_no.startswith("ZY440800")
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None
        assert stay.registration_no == outcome.registration_no
        assert stay.status is StayStatus.ADMITTED and not stay.registered_offline
        assert (stay.admission_no, stay.dept, stay.bed, stay.profile) == ("ZY-ZW-1", "骨关节病区", "12床", "local")
        assert stay.settlement_kind == "本地工伤结算"
        assert stay.identified_by == "card" and stay.recognition_id is not None and stay.filing_id is not None
        marks = [(d.code, d.injury) for d in session.scalars(
            select(Diagnosis).where(Diagnosis.stay_id == stay.id).order_by(Diagnosis.seq))]
        # Same code, or the same ICD-10 3-character category as the recognised S82.201 (`003 §15`).
        assert marks == [("S82.201", True), ("S82.200", True), ("I10", False)]
    checks = _checks(counter)
    assert [(c.basis, c.allowed, c.stay_id) for c in checks] == [("counter", True, outcome.stay_id),
                                                                  ("centre", True, outcome.stay_id)]
    assert {"filing_checked", "stay_admitted", "admission_registered"} <= set(_audit_actions(counter))
    assert sandbox.summary()["registrations"]["open"] == 1

    # The same 住院号 cannot be admitted twice.
    with pytest.raises(WorkflowError, match="已登记过"):
        admit(counter, wf_client, person, form("ZY-ZW-1"), cashier, Identification("card", ZHANG_WEI_CARD))


def test_jilin_emergency_admission_proceeds_with_back_filing_reminder(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    # 王秀兰 (Jilin) has no filing: an emergency admission may proceed, the filing to be completed
    # before discharge settlement (`002 经办规程 §15`).
    _, outcome = admit_worker(counter, wf_client, cashier, WANG_XIULAN_CARD,
                              form("ZY-WXL-1", emergency=True, diagnoses=(("S32.000", "腰椎骨折"),)))
    assert outcome.check.allowed and outcome.registration_no is not None
    reminder = [r for r in outcome.check.reasons if r.code == "EMERGENCY_BACKFILE_REQUIRED"]
    assert len(reminder) == 1 and not reminder[0].blocking and reminder[0].source == "002 经办规程 §15"
    # Jilin's own step (002 经办规程 §15); no Guangdong app is offered outside Guangdong (issue 23 §6).
    assert outcome.check.next_steps == (reminder[0].next_step,)
    assert "补报备案" in reminder[0].next_step and "002 经办规程 §15" in reminder[0].next_step
    assert not any("粤省事" in step for step in outcome.check.next_steps)
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.emergency and stay.filing_id is None


def test_jilin_without_emergency_is_refused(counter: CounterContext, wf_client: CentreClient,
                                            cashier: OperatorInfo) -> None:
    # Without a filing and without an emergency mark: not settled directly (`002 经办规程 §15`).
    person = look_up(wf_client, Identification("card", WANG_XIULAN_CARD), cashier)
    preview = preview_admission_check(counter, person, form("ZY-WXL-2", diagnoses=(("S32.000", "腰椎骨折"),)))
    assert not preview.allowed and preview.check_id is None
    assert [r.code for r in preview.reasons if r.blocking] == ["NO_FILING"]
    assert _checks(counter) == []  # a preview stores nothing


def test_typed_number_needs_a_reviewer_and_a_reason(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo) -> None:
    typed = Identification("typed", "440802198503151236", reason="社保卡损坏")
    with pytest.raises(PermissionDenied):
        look_up(wf_client, typed, cashier)
    with pytest.raises(WorkflowError, match="原因"):
        look_up(wf_client, Identification("typed", "440802198503151236", reason=" "), reviewer)
    with pytest.raises(WorkflowError, match="社会保障号码有误"):
        look_up(wf_client, Identification("typed", "440802198503151235", reason="未带卡"), reviewer)
    person = look_up(wf_client, typed, reviewer)
    assert person.name == "张伟"
    with pytest.raises(PermissionDenied):
        admit(counter, wf_client, person, form("ZY-T-1"), cashier, typed)
    outcome = admit(counter, wf_client, person, form("ZY-T-1"), reviewer, typed)
    assert outcome.registration_no is not None
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and (stay.identified_by, stay.identification_reason) == ("typed", "社保卡损坏")
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "worker_identified_by_number")).one()
        assert event.operator_id == reviewer.id and event.detail["reason"] == "社保卡损坏"
        assert "440802198503151236" not in str(event.detail) + str(event.entity_id)  # masked


def test_centre_refusal_is_stored_and_the_admission_no_can_be_used_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    person, first = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-R-1"))
    assert first.registration_no is not None
    # A second admission while the first registration is open: the counter's check allows it, the
    # centre refuses (3003). The stay is kept as 已撤销 and nothing is registered.
    with pytest.raises(CentreRefused) as refused:
        admit(counter, wf_client, person, form("ZY-R-2"), cashier, Identification("card", ZHANG_WEI_CARD))
    assert refused.value.code == "3003"
    with counter.transaction() as session:
        second = session.scalars(select(Stay).where(Stay.admission_no == "ZY-R-2")).one()
        assert second.status is StayStatus.CANCELLED and second.registration_no is None
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.stay_id == second.id)).one()
        assert entry.operation == Operation.ADMISSION.value and entry.state.value == "failed"
        assert "admission_refused_by_centre" in set(session.scalars(select(AuditEvent.action)))
        refused_stay_id = second.id

    # Once the first stay is settled, the refused 住院号 is admitted again: the same stay, reopened.
    assert first.stay_id is not None
    add_lines(counter, first.stay_id, cashier, 2)
    settle_stay(counter, wf_client, first.stay_id, cashier, centre_today())
    again = admit(counter, wf_client, person, form("ZY-R-2"), cashier, Identification("card", ZHANG_WEI_CARD))
    assert again.stay_id == refused_stay_id and again.registration_no is not None
    with counter.transaction() as session:
        reopened = session.get(Stay, refused_stay_id)
        assert reopened is not None and reopened.status is StayStatus.ADMITTED
        assert reopened.registration_no == again.registration_no and len(reopened.diagnoses) == 2


def test_marking_follows_the_recognition(counter: CounterContext, wf_client: CentreClient,
                                         cashier: OperatorInfo) -> None:
    person = look_up(wf_client, Identification("card", ZHANG_WEI_CARD), cashier)
    marked = mark_diagnoses(person, None, [("S82.201", "胫骨干骨折"), ("S82.9", "小腿骨折"), ("S83.200", "半月板撕裂"),
                                           ("I10", "原发性高血压")])
    assert [(m.code, m.injury, m.matched_recognition_code) for m in marked] == [
        ("S82.201", True, "S82.201"), ("S82.9", True, "S82.201"), ("S83.200", False, None), ("I10", False, None)]


def test_person_records_are_upserted_and_serve_an_offline_admission(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    person, first = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-P-1"))
    again = look_up(wf_client, Identification("card", ZHANG_WEI_CARD), cashier)
    with counter.transaction() as session:
        facts.store_person(session, again)  # a second fetch updates, never duplicates
        assert [session.scalar(select(func.count()).select_from(model)) for model in
                (Worker, InjuryRecognition, RecognitionDiagnosis, FilingRecord)] == [1, 1, 1, 1]
        stored = facts.stored_person(session, person.social_security_number)
        assert facts.stored_person(session, "440106199007224565") is None  # never seen here
    assert stored is not None and stored.profile == "local"
    assert (stored.name, stored.recognitions, stored.filings) == (person.name, person.recognitions, person.filings)
    # The card that found the person must be the one recorded on the stay.
    with pytest.raises(WorkflowError, match="卡号"):
        admit(counter, wf_client, person, form("ZY-P-2"), cashier, Identification("card", "K44190015"))
    assert first.registration_no is not None


def test_e_card_and_unknown_card(counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    assert look_up(wf_client, Identification("ecard", "ECARD-ZW-7F3A9C21"), cashier).name == "张伟"
    with pytest.raises(CentreRefused) as unknown:
        look_up(wf_client, Identification("card", "Z99999999"), cashier)
    assert unknown.value.code in {"2001", "2002"} and unknown.value.message
    with pytest.raises(WorkflowError, match="请读卡"):
        look_up(wf_client, Identification("card", "  "), cashier)
