"""The month-end comparison against the real sandbox centre (issue 10, part B).

Last month: three settled stays. 黄丽's bed is charged twice on one day (the counter's `daily_limit`,
the agency's machine rule `per_day`: predicted and deducted, `003 §15`); 赵建华 has the same dressing
twice on one day (the counter's `repeated_same_day`, which the sandbox's audit does not apply: predicted,
not deducted); 周强's celecoxib and paracetamol are deducted by the agency's hand audit (`003 §19`), which
no rule at the counter predicts: one reason maps to `indication_mismatch` (`agency_reasons.json`), the
other to no rule (未预测的扣款). The claim is built, its predictions kept at upload, the answer fetched,
and the month compared line by line (`003 §20`, `000 §33`: what the agency deducts).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.claims.preaudit_month import compare_month, load_agency_reasons, predict_claim, ratio_text
from app.claims.service import build_claim, previous_month
from app.claims.upload import fetch_answer, upload_claim
from app.db.models import ChargeCategory, ClaimEntry, PreauditPrediction
from app.operators import OperatorInfo
from app.workflow.admission import centre_today
from app.workflow.catalogue import sync_catalogue
from tests.preaudit.month_fixtures import Line, settle_last_month_with
from tests.workflow.stay_fixtures import *  # noqa: F403

T = ChargeCategory.TREATMENT
D = ChargeCategory.DRUG
CELECOXIB_REASON = "与工伤伤情无关，不予支付"
PARACETAMOL_REASON = "药品适应症与工伤诊断不符"


def test_the_months_predictions_against_the_agencys_deductions(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:  # noqa: F405
    sync_catalogue(counter, wf_client)  # the counter's copy of the catalogue: per-day items, price limits
    bed_twice = settle_last_month_with(counter, wf_client, cashier, "黄丽", [
        Line(1, "XJ01DC02", "注射用头孢呋辛钠", D, "6", "8.50"),
        Line(2, "110900001", "床位费（三人间）", T, "1", "40.00"),
        Line(3, "110900001", "床位费（三人间）", T, "1", "40.00"),
    ])
    dressing_twice = settle_last_month_with(counter, wf_client, cashier, "赵建华", [
        Line(1, "XJ01DC02", "注射用头孢呋辛钠", D, "2", "8.50"),
        Line(2, "120200002", "中换药", T, "1", "30.00"),
        Line(3, "120200002", "中换药", T, "1", "30.00"),
    ])
    hand_audited = settle_last_month_with(counter, wf_client, cashier, "周强", [
        Line(1, "XM01AH01", "塞来昔布胶囊", D, "10", "3.80"),
        Line(2, "XN02BE01", "对乙酰氨基酚片", D, "20", "0.30"),
        Line(3, "XJ01DC02", "注射用头孢呋辛钠", D, "2", "8.50"),
    ])
    month = previous_month(centre_today())
    claim = build_claim(counter, month, reviewer, today=centre_today()).claim

    # Before upload: the predicted deductions per stay and in total.
    with counter.transaction() as session:
        prediction = predict_claim(session, claim.claim_id)
    at_risk = {stay.stay_id: (stay.at_risk, sorted({(f.seq, f.rule) for f in stay.findings})) for stay in prediction.stays}
    assert at_risk == {
        bed_twice.stay_id: (Decimal("40.00"), [(3, "daily_limit")]),  # 80.00 × (2 − 1) / 2 on the later line
        dressing_twice.stay_id: (Decimal("30.00"), [(3, "repeated_same_day")]),
        hand_audited.stay_id: (Decimal("0.00"), []),
    }
    assert prediction.total_at_risk == Decimal("70.00") and prediction.stays_at_risk == 2

    sandbox.admin("POST", "/admin/hand-audit", {"items": [
        {"code": "XM01AH01", "reason": CELECOXIB_REASON}, {"code": "XN02BE01", "reason": PARACETAMOL_REASON}]})
    try:
        assert upload_claim(counter, wf_client, claim.claim_id, reviewer).completed
        with counter.transaction() as session:  # kept at upload, one row per entry, line and rule
            kept = session.execute(select(ClaimEntry.settlement_id, PreauditPrediction.seq, PreauditPrediction.rule,
                                          PreauditPrediction.amount_at_risk)
                                   .join(ClaimEntry, ClaimEntry.id == PreauditPrediction.claim_entry_id)).all()
        assert sorted(kept) == sorted([(bed_twice.settlement_id, 3, "daily_limit", Decimal("40.00")),
                                       (dressing_twice.settlement_id, 3, "repeated_same_day", Decimal("30.00"))])
        answer = fetch_answer(counter, wf_client, claim.claim_id, reviewer)
    finally:
        sandbox.admin("POST", "/admin/hand-audit", {"items": []})
    assert answer.problems == ()
    # The agency: the bed's excess 40.00 (per_day), celecoxib 38.00 and paracetamol 6.00 by hand.
    assert answer.claim.deduction_total == Decimal("84.00")

    with counter.transaction() as session:
        comparison = compare_month(session, month, load_agency_reasons())
    assert comparison.batches == (claim.batch_no,) and comparison.notes == ()
    overall = comparison.overall
    assert (overall.true_positives, overall.false_positives, overall.false_negatives) == (1, 1, 2)
    assert (overall.predicted_hit, overall.deducted_hit) == (Decimal("40.00"), Decimal("40.00"))
    assert overall.predicted_missed == Decimal("30.00") and overall.deducted_unpredicted == Decimal("44.00")
    assert overall.precision == 0.5 and overall.recall == 1 / 3
    assert (ratio_text(overall.precision), ratio_text(overall.recall)) == ("50%", "33%")

    rows = {r.rule: (r.true_positives, r.false_positives, r.false_negatives, r.precision, r.recall)
            for r in comparison.rules}
    assert rows == {
        "daily_limit": (1, 0, 0, 1.0, 1.0),
        "repeated_same_day": (0, 1, 0, 0.0, None),  # recall: nothing of its kind was deducted
        "indication_mismatch": (0, 0, 1, None, 0.0),  # the hand audit's reason names its indication
    }
    assert comparison.rule("indication_mismatch").deducted_unpredicted == Decimal("6.00")
    assert comparison.rule("repeated_same_day").predicted_missed == Decimal("30.00")
    [unpredicted] = comparison.unpredicted
    assert (unpredicted.line_no, unpredicted.item_name, unpredicted.amount) == (1, "塞来昔布胶囊", Decimal("38.00"))
    assert CELECOXIB_REASON in unpredicted.reason and "人工审核" in unpredicted.reason
