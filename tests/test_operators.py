from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.bootstrap import open_counter
from app.db.models import AuditEvent, Operator, Role
from app.errors import AuthenticationError, PermissionDenied, WiCounterError
from app.institution import InstitutionInfo
from app.operators import (
    Permission,
    authenticate,
    complete_first_run,
    create_operator,
    list_operators,
    needs_first_run,
    require,
)

HOSPITAL = InstitutionInfo("H44080100001", "湛江市第一人民医院", "广东省", "湛江市", "440800", "三级甲等")


@pytest.fixture
def counter(db_url: str, tmp_path):  # type: ignore[no-untyped-def]
    context = open_counter(home=tmp_path, db_url=db_url)
    yield context
    context.close()


@pytest.fixture
def admin(counter):  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        return complete_first_run(session, HOSPITAL, "admin", "王管理", "correct horse", "1号窗口")


def test_first_start_creates_the_institution_and_administrator_once(counter) -> None:  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        assert needs_first_run(session)
        admin = complete_first_run(session, HOSPITAL, "admin", "王管理", "correct horse", "1号窗口")
        assert admin.role is Role.ADMIN
    with counter.transaction() as session:
        assert not needs_first_run(session)
        with pytest.raises(WiCounterError, match="已完成初始设置"):
            complete_first_run(session, HOSPITAL, "admin2", "赵", "correct horse", "1号窗口")


def test_first_run_refuses_a_bad_institution_with_every_problem(counter) -> None:  # type: ignore[no-untyped-def]
    bad = InstitutionInfo("H4408", "", "广东省", "湛江市", "4408", "三级")
    with counter.transaction() as session:
        with pytest.raises(WiCounterError) as caught:
            complete_first_run(session, bad, "admin", "王管理", "correct horse", "1号窗口")
    assert "12 位" in caught.value.message
    assert "医疗机构名称" in caught.value.message
    assert "6 位数字" in caught.value.message


def test_passwords_are_stored_as_argon2id_hashes(counter, admin) -> None:  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        stored = session.scalars(select(Operator).where(Operator.login == "admin")).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert "correct horse" not in stored.password_hash


def test_login_succeeds_with_the_right_password_and_is_audited(counter, admin) -> None:  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        who = authenticate(session, "admin", "correct horse", "1号窗口")
    assert (who.login, who.display_name, who.role_label) == ("admin", "王管理", "管理员")
    with counter.transaction() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-1] == "login"


@pytest.mark.parametrize(("login", "password"), [("admin", "wrong password"), ("nobody", "correct horse")])
def test_a_wrong_login_gets_one_message_whatever_was_wrong(counter, admin, login: str, password: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationError, match="登录名或密码错误"):
        with counter.transaction() as session:
            authenticate(session, login, password, "1号窗口")
    with counter.transaction() as session:  # the refusal is in the audit trail despite the rollback
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
        assert (last.action, last.detail["login"]) == ("login_refused", login)


def test_too_many_failures_lock_the_account_for_a_while(counter, admin) -> None:  # type: ignore[no-untyped-def]
    # Each failure is counted even though the caller's transaction rolls back on the error.
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            with counter.transaction() as session:
                authenticate(session, "admin", "wrong password", "1号窗口")
    with pytest.raises(AuthenticationError, match="已锁定"):
        with counter.transaction() as session:
            authenticate(session, "admin", "correct horse", "1号窗口")
    with counter.transaction() as session:
        stored = session.scalars(select(Operator).where(Operator.login == "admin")).one()
        stored.locked_until = stored.locked_until - dt.timedelta(minutes=10)  # time passes
    with counter.transaction() as session:
        assert authenticate(session, "admin", "correct horse", "1号窗口").login == "admin"


def test_roles_are_enforced_in_the_service(counter, admin) -> None:  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        created = create_operator(session, admin, "cashier", "张收款", Role.CASHIER, "cashier pass", "1号窗口")
        create_operator(session, admin, "reviewer", "李审核", Role.REVIEWER, "reviewer pass", "1号窗口")
    with pytest.raises(AuthenticationError, match="未经密码验证"):  # the record of an operator is no login
        require(created, Permission.SETTLE)
    with counter.transaction() as session:
        cashier = authenticate(session, "cashier", "cashier pass", "1号窗口")
        reviewer = authenticate(session, "reviewer", "reviewer pass", "1号窗口")
    with counter.transaction() as session:
        with pytest.raises(PermissionDenied, match="收款员无权执行“管理操作员”"):
            create_operator(session, cashier, "other", "某某", Role.ADMIN, "other pass", "1号窗口")
    require(cashier, Permission.SETTLE)
    with pytest.raises(PermissionDenied, match="撤销结算"):
        require(cashier, Permission.CANCEL_SETTLEMENT)
    require(reviewer, Permission.CANCEL_SETTLEMENT)
    with pytest.raises(PermissionDenied):
        require(reviewer, Permission.MANAGE_OPERATORS)
    with counter.transaction() as session:
        assert [o.login for o in list_operators(session)] == ["admin", "cashier", "reviewer"]


def test_new_operators_are_validated(counter, admin) -> None:  # type: ignore[no-untyped-def]
    with counter.transaction() as session:
        with pytest.raises(WiCounterError, match="至少 8 位"):
            create_operator(session, admin, "short", "某", Role.CASHIER, "1234", "1号窗口")
        with pytest.raises(WiCounterError, match="已被使用"):
            create_operator(session, admin, "admin", "某", Role.CASHIER, "long enough", "1号窗口")
        with pytest.raises(WiCounterError, match="登录名"):
            create_operator(session, admin, "名字", "某", Role.CASHIER, "long enough", "1号窗口")


def test_an_admin_disables_enables_and_resets_with_audit(counter, admin) -> None:  # type: ignore[no-untyped-def]
    from app.operators import reset_password, set_operator_active

    with counter.transaction() as session:
        create_operator(session, admin, "cashier", "张收款", Role.CASHIER, "cashier pass", "1号窗口")
        set_operator_active(session, admin, "cashier", False, "1号窗口")
    with pytest.raises(AuthenticationError, match="登录名或密码错误"), counter.transaction() as session:
        authenticate(session, "cashier", "cashier pass", "1号窗口")
    with counter.transaction() as session:
        set_operator_active(session, admin, "cashier", True, "1号窗口")
    for _ in range(5):  # locked out…
        with pytest.raises(AuthenticationError), counter.transaction() as session:
            authenticate(session, "cashier", "forgotten", "1号窗口")
    with counter.transaction() as session:  # …until an administrator sets a new password
        reset_password(session, admin, "cashier", "brand-new-pass", "1号窗口")
    with counter.transaction() as session:
        cashier = authenticate(session, "cashier", "brand-new-pass", "1号窗口")
        actions = [(e.action, e.operator_id) for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("operator_disabled", "operator_enabled", "password_reset"))).order_by(AuditEvent.id))]
    assert actions == [("operator_disabled", admin.id), ("operator_enabled", admin.id), ("password_reset", admin.id)]
    with pytest.raises(PermissionDenied), counter.transaction() as session:
        set_operator_active(session, cashier, "admin", False, "1号窗口")
    with pytest.raises(WiCounterError, match="唯一在用的管理员|自己"), counter.transaction() as session:
        set_operator_active(session, admin, "admin", False, "1号窗口")
    with pytest.raises(WiCounterError, match="至少 8 位"), counter.transaction() as session:
        reset_password(session, admin, "cashier", "short", "1号窗口")
