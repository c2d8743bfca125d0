"""Roles are enforced in the services: a cashier calling any reviewer's or administrator's action is
refused with a Chinese message, before anything is written or any centre is called.

Every action is also called as the role that may do it, so each refusal is shown to come from the role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from sqlalchemy import func, select

from app.business_date import business_today
from app.bootstrap import CounterContext
from app.centre.reconciliation import review_difference
from app.claims.calendar import load_calendar
from app.claims.deductions import record_dispute
from app.claims.service import build_claim
from app.claims.upload import fetch_answer, upload_claim
from app.db.models import Base, ChargeLine, MonthlyClaim, Role, Settlement
from app.errors import PermissionDenied
from app.operators import OperatorInfo, Permission, ROLE_PERMISSIONS, create_operator
from app.settings import COUNTER_NAME, Settings
from app.settings_changes import save_setting_changes
from app.workflow.admission import Identification, look_up
from app.workflow.dayend import day_end_report
from app.workflow.admission_correction import cancel_registration
from app.workflow.discharge import cancel_settlement
from app.workflow.separation import approve_overrides
from tests.claims.claim_fixtures import clerks, id_number, open_test_counter, settle_stay
from tests.signed_in import signed_in

TODAY = business_today()
LAST_MONTH = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=5)


class NoCentre:
    """Stands in for the centre client: any use of it fails the test (a refusal calls nothing)."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the centre was called ({name}) although the operator was refused")


@pytest.fixture
def ctx(tmp_path: Any) -> Iterator[CounterContext]:
    # Roles are the same on both databases; SQLite keeps this file fast.
    context = open_test_counter(f"sqlite:///{tmp_path / 'roles.sqlite3'}")
    yield context
    context.close()


@pytest.fixture
def world(ctx: CounterContext) -> dict[str, Any]:
    who = clerks(ctx)
    with ctx.transaction() as session:
        settlement = settle_stay(session, who.cashier.id, settled=LAST_MONTH)
        line_id = session.scalars(select(ChargeLine.id).where(ChargeLine.stay_id == settlement.stay_id)).first()
        settlement_id = settlement.id
        stay_id = settlement.stay_id
    claim = build_claim(ctx, f"{LAST_MONTH:%Y-%m}", who.reviewer)
    with ctx.transaction() as session:
        claim_id = session.scalars(select(MonthlyClaim.id)).one()
    return {"who": who, "settlement_id": settlement_id, "stay_id": stay_id, "line_id": line_id, "claim_id": claim_id,
            "month": f"{LAST_MONTH:%Y-%m}", "build": claim}


def _row_counts(ctx: CounterContext) -> dict[str, int]:
    with ctx.transaction() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables}


Action = Callable[[CounterContext, dict[str, Any], OperatorInfo], object]


def _in_session(call: Callable[..., object]) -> Action:
    def run(ctx: CounterContext, world: dict[str, Any], actor: OperatorInfo) -> object:
        with ctx.transaction() as session:
            return call(session, ctx, world, actor)
    return run


# Each reviewer / administrator action, with the permission it needs and the label the clerk reads.
ACTIONS: dict[str, tuple[Permission, Action]] = {
    "cancel_registration": (Permission.CORRECT_REGISTRATION, lambda ctx, w, actor: cancel_registration(
        ctx, NoCentre(), w["stay_id"], "登记错了人", actor)),  # type: ignore[arg-type]
    "cancel_settlement": (Permission.CANCEL_SETTLEMENT, lambda ctx, w, actor: cancel_settlement(
        ctx, NoCentre(), w["settlement_id"], actor, "结算金额有误")),  # type: ignore[arg-type]
    "approve_override": (Permission.OVERRIDE_CLASSIFICATION, _in_session(lambda s, ctx, w, actor: approve_overrides(
        s, actor, ctx.counter_name, [w["line_id"]]))),
    "typed_id_number": (Permission.MANUAL_IDENTIFICATION, lambda ctx, w, actor: look_up(
        NoCentre(), Identification("typed", id_number(7), "未带卡"), actor)),  # type: ignore[arg-type]
    "build_claim": (Permission.BUILD_CLAIM, lambda ctx, w, actor: build_claim(ctx, w["month"], actor)),
    "upload_claim": (Permission.BUILD_CLAIM, lambda ctx, w, actor: upload_claim(
        ctx, NoCentre(), w["claim_id"], actor)),  # type: ignore[arg-type]
    "fetch_answer": (Permission.BUILD_CLAIM, lambda ctx, w, actor: fetch_answer(
        ctx, NoCentre(), w["claim_id"], actor)),  # type: ignore[arg-type]
    "dispute_deduction": (Permission.BUILD_CLAIM, _in_session(lambda s, ctx, w, actor: record_dispute(
        s, 1, "扣款依据不足", ["病历.pdf"], actor, counter_name=ctx.counter_name, today=TODAY,
        calendar=load_calendar(None)))),
    "review_difference": (Permission.RECONCILE, _in_session(lambda s, ctx, w, actor: review_difference(
        s, 1, actor, "已补记", ctx.counter_name))),
    "create_operator": (Permission.MANAGE_OPERATORS, _in_session(lambda s, ctx, w, actor: create_operator(
        s, actor, "newclerk", "王新", Role.CASHIER, "correct-horse-1", ctx.counter_name))),
    "change_settings": (Permission.CHANGE_SETTINGS, lambda ctx, w, actor: save_setting_changes(
        ctx, {"counter.name": "9号窗口"}, actor)),
    "view_others_day_end": (Permission.VIEW_OTHERS_DAY_END, _in_session(lambda s, ctx, w, actor: day_end_report(
        s, actor, w["who"].reviewer.id if actor.id != w["who"].reviewer.id else w["who"].cashier.id, TODAY))),
}

# Where the service says more than the standard refusal (what the cashier may do instead).
REFUSALS = {"view_others_day_end": "收款员只能查看本人的日结单；查看他人的日结单请由审核员或管理员办理。"}


def test_a_cashier_has_none_of_these_permissions() -> None:
    """The table below covers every permission a cashier lacks, so a new one is not forgotten."""
    lacking = set(Permission) - ROLE_PERMISSIONS[Role.CASHIER]
    assert lacking == {permission for permission, _ in ACTIONS.values()}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_a_cashier_is_refused_and_nothing_is_written(ctx: CounterContext, world: dict[str, Any], name: str) -> None:
    permission, action = ACTIONS[name]
    settings_before = ctx.settings.path.read_bytes() if ctx.settings.path.exists() else None
    rows_before = _row_counts(ctx)
    with pytest.raises(PermissionDenied) as refused:
        action(ctx, world, world["who"].cashier)
    assert refused.value.message == REFUSALS.get(name, f"收款员无权执行“{permission.label}”，请联系审核员或管理员。")
    assert _row_counts(ctx) == rows_before
    assert (ctx.settings.path.read_bytes() if ctx.settings.path.exists() else None) == settings_before


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_the_role_that_may_act_is_not_refused(ctx: CounterContext, world: dict[str, Any], name: str) -> None:
    permission, action = ACTIONS[name]
    who = world["who"]
    actor = who.reviewer if who.reviewer.can(permission) else signed_in(OperatorInfo(who.reviewer.id, "admin", "管理员", Role.ADMIN))
    try:
        action(ctx, world, actor)
    except PermissionDenied:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"{actor.role_label} was refused {name}")
    except Exception:  # noqa: BLE001 - past the role check: the centre stand-in, a missing record…
        pass
    if name == "change_settings":
        assert Settings.load(ctx.settings.path).get(COUNTER_NAME) == "9号窗口"
    if name == "cancel_settlement":
        with ctx.transaction() as session:  # refused by the centre stand-in, so nothing was reversed
            assert session.scalar(select(func.count()).select_from(Settlement)) == 1
