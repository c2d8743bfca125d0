"""Who did it, provably (issue 22, items 1–3): every action done in someone's name needs that
person's password — on the command line and in the services — and demo data goes only into a demo
database.

Tried as an attacker at the counter PC would: the program's own command line (a real process),
a login name typed without the password, a locked account, an operator object built by hand, and
`--demo` pointed at the site's database.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext, open_counter
from app.cli import main
from app.db.models import AuditEvent, Base, Operator, Role, Settlement
from app.demo import DEMO_PASSWORD
from app.errors import AuthenticationError, ConfigurationError, PermissionDenied
from app.institution import InstitutionInfo
from app.operators import (
    OperatorInfo,
    authenticate,
    complete_first_run,
    create_operator,
)
from app.settings import CARD_VENDOR_LIBRARY, Settings, setting_by_key

REPO = Path(__file__).resolve().parents[2]
RULE = "repeated_same_day"


class NoCentre:
    """Stands in for the centre client: any use of it fails the test (a refusal calls nothing)."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the centre was called ({name}) although the operator was refused")


# --- a demo counter, driven as a separate process ---------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    context = open_counter(home=home, demo=True)  # the demo: admin / cashier / reviewer, one settled stay
    context.close()
    return home


@pytest.fixture
def ctx(home: Path) -> Iterator[CounterContext]:
    context = open_counter(home=home, demo=True)
    yield context
    context.close()


def run_cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m app --home HOME --demo ARGS` as its own process; stdin is not a terminal."""
    env = dict(os.environ, WI_COUNTER_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("WI_COUNTER_OPERATOR", None)
    return subprocess.run([sys.executable, "-m", "app", "--home", str(home), "--demo", *args], cwd=REPO, env=env,
                          input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=120)


def rows(ctx: CounterContext) -> dict[str, int]:
    with ctx.transaction() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables}


def operator_id(ctx: CounterContext, login: str) -> int:
    with ctx.transaction() as session:
        found = session.scalars(select(Operator.id).where(Operator.login == login)).one()
        return int(found)


def events(ctx: CounterContext, after: int = 0) -> list[tuple[str, int | None, dict[str, Any]]]:
    with ctx.transaction() as session:
        return [(e.action, e.operator_id, e.detail) for e in
                session.scalars(select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id))]


def last_event_id(ctx: CounterContext) -> int:
    with ctx.transaction() as session:
        return session.scalar(select(func.max(AuditEvent.id))) or 0


def settlement_id(ctx: CounterContext) -> int:
    with ctx.transaction() as session:
        return int(session.scalars(select(Settlement.id)).one())


def rule_enabled(ctx: CounterContext) -> bool:
    from app.preaudit.ruleset import site_ruleset

    return site_ruleset(ctx.paths.config_dir).enabled(RULE)


def impersonations(ctx: CounterContext) -> list[list[str]]:
    """Actions a cashier would like to do in the reviewer's name, as typed on the command line."""
    return [
        ["slip", str(settlement_id(ctx)), "--operator", "reviewer"],
        ["claims", "adjust-rule", RULE, "--disable", "--reason", "冒名停用", "--operator", "reviewer"],
        ["claims", "build", "--month", "2026-11", "--operator", "reviewer"],
    ]


# --- 1. the command line asks for the operator's password --------------------------------------------


def test_a_login_name_without_the_password_does_nothing_in_that_name(ctx: CounterContext, home: Path) -> None:
    reviewer = operator_id(ctx, "reviewer")
    for command in impersonations(ctx):
        before, mark = rows(ctx), last_event_id(ctx)
        result = run_cli(home, *command)
        assert result.returncode != 0, (command, result.stdout)
        assert "密码" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert rows(ctx) == before, command  # nothing changed, nothing audited
        assert all(operator != reviewer for _, operator, _ in events(ctx, mark))
    assert rule_enabled(ctx)


def test_the_operators_password_on_stdin_signs_in_and_is_audited(ctx: CounterContext, home: Path) -> None:
    mark = last_event_id(ctx)
    result = run_cli(home, "claims", "adjust-rule", RULE, "--disable", "--reason", "中心不扣此项",
                     "--operator", "reviewer", "--password-stdin", stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert not rule_enabled(ctx)
    reviewer = operator_id(ctx, "reviewer")
    actions = [(action, operator) for action, operator, _ in events(ctx, mark)]
    assert actions[0] == ("login", reviewer)
    assert events(ctx, mark)[0][2] == {"channel": "cli"}
    assert actions[1:] == [("preaudit_rule_adjusted", reviewer)]


def test_a_wrong_password_is_refused_and_counted(ctx: CounterContext, home: Path) -> None:
    before_settled = rows(ctx)["print_log"]
    mark = last_event_id(ctx)
    result = run_cli(home, "slip", str(settlement_id(ctx)), "--operator", "reviewer", "--password-stdin",
                     stdin="guess-1234\n")
    assert result.returncode == 1
    assert "登录名或密码错误" in result.stderr
    assert rows(ctx)["print_log"] == before_settled
    assert [(a, o) for a, o, _ in events(ctx, mark)] == [("login_refused", operator_id(ctx, "reviewer"))]
    with ctx.transaction() as session:
        assert session.scalars(select(Operator.failed_logins).where(Operator.login == "reviewer")).one() == 1


def test_an_account_locked_in_the_window_is_locked_on_the_command_line(ctx: CounterContext, home: Path) -> None:
    for _ in range(5):  # the window's login, five wrong passwords
        with pytest.raises(AuthenticationError), ctx.transaction() as session:
            authenticate(session, "reviewer", "wrong-password", ctx.counter_name)
    before = rows(ctx)
    result = run_cli(home, "claims", "adjust-rule", RULE, "--disable", "--reason", "锁定后", "--operator", "reviewer",
                     "--password-stdin", stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 1
    assert "账号已锁定" in result.stderr
    assert rows(ctx) == before and rule_enabled(ctx)


def test_failures_on_the_command_line_lock_the_account_for_the_window(ctx: CounterContext, home: Path) -> None:
    for _ in range(5):
        assert run_cli(home, "slip", str(settlement_id(ctx)), "--operator", "cashier", "--password-stdin",
                       stdin="not-the-password\n").returncode == 1
    with pytest.raises(AuthenticationError, match="账号已锁定"), ctx.transaction() as session:
        authenticate(session, "cashier", DEMO_PASSWORD, ctx.counter_name)


# --- 1. the services act only for an operator who signed in ------------------------------------------


def forged_actions(ctx: CounterContext) -> dict[str, Any]:
    from app.claims.preaudit_month import set_rule_enabled
    from app.settings_changes import save_setting_changes
    from app.workflow.discharge import cancel_settlement

    def in_session(call: Any) -> Any:
        def run(actor: OperatorInfo) -> object:
            with ctx.transaction() as session:
                return call(session, actor)
        return run

    return {
        "cancel_settlement": lambda actor: cancel_settlement(ctx, NoCentre(), settlement_id(ctx), actor, "冒名撤销"),
        "adjust_rule": in_session(lambda s, actor: set_rule_enabled(s, ctx.paths.config_dir, RULE, False, actor,
                                                                    counter_name=ctx.counter_name, reason="冒名")),
        "create_operator": in_session(lambda s, actor: create_operator(
            s, actor, "intruder", "冒名者", Role.ADMIN, "correct-horse-9", ctx.counter_name)),
        "change_settings": lambda actor: save_setting_changes(ctx, {"counter.name": "冒名窗口"}, actor),
    }


@pytest.mark.parametrize("name", ["cancel_settlement", "adjust_rule", "create_operator", "change_settings"])
def test_a_service_refuses_an_operator_object_built_by_hand(ctx: CounterContext, name: str) -> None:
    with ctx.transaction() as session:
        admin = session.scalars(select(Operator).where(Operator.login == "admin")).one()
        forged = OperatorInfo(admin.id, admin.login, admin.display_name, admin.role)
    with ctx.transaction() as session:
        cashier = authenticate(session, "cashier", DEMO_PASSWORD, ctx.counter_name)
    promoted = dataclasses.replace(cashier, role=Role.ADMIN)  # a real login, its role field changed
    settings_before = ctx.settings.path.read_bytes() if ctx.settings.path.exists() else None
    before = rows(ctx)
    for actor in (forged, promoted):
        with pytest.raises(AuthenticationError) as refused:
            forged_actions(ctx)[name](actor)
        assert "未经密码验证" in refused.value.message
    assert rows(ctx) == before and rule_enabled(ctx)
    assert (ctx.settings.path.read_bytes() if ctx.settings.path.exists() else None) == settings_before


def test_the_same_service_acts_for_the_operator_who_signed_in(ctx: CounterContext) -> None:
    with ctx.transaction() as session:
        admin = authenticate(session, "admin", DEMO_PASSWORD, ctx.counter_name)
    assert admin.authenticated
    forged_actions(ctx)["adjust_rule"](admin)
    assert not rule_enabled(ctx)


# --- 1. admin-only commands -------------------------------------------------------------------------


def test_a_cashier_cannot_set_the_card_library_from_the_command_line(ctx: CounterContext, home: Path) -> None:
    settings_file = ctx.settings.path
    before = settings_file.read_bytes() if settings_file.exists() else b""
    for stdin, extra in (("", []), (DEMO_PASSWORD + "\n", ["--operator", "cashier", "--password-stdin"])):
        result = run_cli(home, "settings", "set", "card.vendor_library", "/tmp/libevil.so", *extra, stdin=stdin)
        assert result.returncode == 1, result.stdout
        assert (settings_file.read_bytes() if settings_file.exists() else b"") == before
    assert "收款员无权" in result.stderr
    assert Settings.load(settings_file).get(CARD_VENDOR_LIBRARY) == ""

    mark = last_event_id(ctx)
    result = run_cli(home, "settings", "set", "card.vendor_library", "/opt/vendor/libsscard.so",
                     "--operator", "admin", "--password-stdin", stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert Settings.load(settings_file).get(CARD_VENDOR_LIBRARY) == "/opt/vendor/libsscard.so"
    admin = operator_id(ctx, "admin")
    assert ("setting_changed", admin, {"key": "card.vendor_library", "from": "", "to": "/opt/vendor/libsscard.so"}) \
        in events(ctx, mark)


def test_an_ordinary_setting_still_needs_no_credential(home: Path) -> None:
    result = run_cli(home, "settings", "set", "slip.paper", "A4")
    assert result.returncode == 0, result.stderr


def test_an_admin_disables_an_operator_and_resets_a_password(ctx: CounterContext, home: Path) -> None:
    admin = operator_id(ctx, "admin")
    cashier = operator_id(ctx, "cashier")
    # A cashier may not.
    result = run_cli(home, "operators", "disable", "reviewer", "--operator", "cashier", "--password-stdin",
                     stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 1 and "收款员无权" in result.stderr

    mark = last_event_id(ctx)
    result = run_cli(home, "operators", "disable", "cashier", "--operator", "admin", "--password-stdin",
                     stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert ("operator_disabled", admin) in [(a, o) for a, o, _ in events(ctx, mark)]
    result = run_cli(home, "slip", str(settlement_id(ctx)), "--operator", "cashier", "--password-stdin",
                     stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 1 and "登录名或密码错误" in result.stderr

    assert run_cli(home, "operators", "enable", "cashier", "--operator", "admin", "--password-stdin",
                   stdin=DEMO_PASSWORD + "\n").returncode == 0
    mark = last_event_id(ctx)
    result = run_cli(home, "operators", "reset-password", "cashier", "--operator", "admin", "--password-stdin",
                     stdin=f"{DEMO_PASSWORD}\nnew-secret-42\n")
    assert result.returncode == 0, result.stderr
    assert [(a, o) for a, o, _ in events(ctx, mark)][-1] == ("password_reset", admin)
    with ctx.transaction() as session:
        assert authenticate(session, "cashier", "new-secret-42", ctx.counter_name).id == cashier


def test_db_downgrade_needs_an_administrator(ctx: CounterContext, home: Path) -> None:
    from app.db.migrate import current_revision, head_revision

    for extra in ([], ["--operator", "reviewer", "--password-stdin"]):
        result = run_cli(home, "db", "downgrade", "0001", *extra, stdin=DEMO_PASSWORD + "\n")
        assert result.returncode == 1, result.stdout
    assert current_revision(ctx.engine) == head_revision()


# --- 2. reversing a call at the centre ------------------------------------------------------------------


def test_reverse_without_a_reviewer_is_refused_before_the_centre_is_called(ctx: CounterContext, home: Path) -> None:
    # The centre's address is a closed port: a refusal must come before any call.
    before = rows(ctx)
    result = run_cli(home, "centre", "resolve", "--reverse", "DEMO-0001")
    assert result.returncode == 1 and "请用 --operator 指定审核员" in result.stderr
    result = run_cli(home, "centre", "resolve", "--reverse", "DEMO-0001", "--operator", "reviewer")
    assert result.returncode == 1 and "密码" in result.stderr
    result = run_cli(home, "centre", "resolve", "--reverse", "DEMO-0001", "--operator", "cashier", "--password-stdin",
                     stdin=DEMO_PASSWORD + "\n")
    assert result.returncode == 1 and "收款员无权" in result.stderr
    after = rows(ctx)
    assert after.pop("audit_event") == before.pop("audit_event") + 1  # the cashier's login, nothing more
    assert after == before


# --- 3. demo data only ever goes into a demo database ---------------------------------------------------


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[CounterContext]:
    """A site's database after its first start: its own institution and administrator."""
    context = open_counter(home=tmp_path / "site-home", db_url=db_url)
    with context.transaction() as session:
        complete_first_run(session, InstitutionInfo(code="H44010600001", name="广州市某某医院", province="广东省",
                                                    city="广州市", city_code="440100", level="三级甲等",
                                                    direct_settlement=True),
                           "siteadmin", "陈管理", "site-password-1", context.counter_name)
    yield context
    context.close()


def _logins(site: CounterContext) -> list[str]:
    with site.transaction() as session:
        return list(session.scalars(select(Operator.login).order_by(Operator.login)))


def test_demo_mode_refuses_a_site_database(site: CounterContext, db_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = rows(site)
    assert main(["--demo", "--db", db_url, "operator", "list"]) == 1
    assert "不是演示数据库" in capsys.readouterr().err
    monkeypatch.setenv("WI_COUNTER_DB_URL", db_url)  # as the README suggests for a site
    assert main(["--demo", "operator", "list"]) == 1
    with pytest.raises(ConfigurationError):
        open_counter(home=tmp_path / "other", demo=True, db_url=db_url)
    assert _logins(site) == ["siteadmin"]
    assert rows(site) == before


def test_the_demo_seeding_itself_refuses_a_site_database(site: CounterContext) -> None:
    from app.demo import seed_demo

    with pytest.raises(ConfigurationError, match="不是演示数据库"), site.transaction() as session:
        seed_demo(session, site.counter_name)
    assert _logins(site) == ["siteadmin"]


def test_a_database_knows_whether_it_was_created_as_a_demo(db_url: str, tmp_path: Path) -> None:
    from app.db.identity import DEMO, SITE, database_kind

    demo = open_counter(home=tmp_path / "demo-home", demo=True, db_url=db_url)
    try:
        assert database_kind(demo.engine) == DEMO and "admin" in _logins(demo)
    finally:
        demo.close()
    open_counter(home=tmp_path / "demo-home-2", demo=True, db_url=db_url).close()  # a demo stays usable as one

    site_url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    site = open_counter(home=tmp_path / "site-home", db_url=site_url)  # created by a site's counter
    try:
        assert database_kind(site.engine) == SITE
    finally:
        site.close()
    with pytest.raises(ConfigurationError, match="不是演示数据库"):
        open_counter(home=tmp_path / "demo-home-3", demo=True, db_url=site_url)


def test_a_setting_changed_in_the_window_is_audited_with_who_and_what(ctx: CounterContext) -> None:
    """Issue 22 §1: the 设置 page's changes are in the audit trail like `settings set`'s (who, from, to)."""
    from app.audit import verify_trail
    from app.db.models import AuditEvent
    from app.settings_changes import save_setting_changes

    with ctx.transaction() as session:
        admin = authenticate(session, "admin", DEMO_PASSWORD, ctx.counter_name)
    before = ctx.settings.get(setting_by_key("counter.name"))
    save_setting_changes(ctx, {"counter.name": "3号窗口"}, admin)
    with ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "setting_changed")
                                .order_by(AuditEvent.id.desc())).first()
        assert event is not None and event.operator_id == admin.id
        assert event.entity_id == "counter.name"
        assert event.detail == {"key": "counter.name", "from": before, "to": "3号窗口"}
        assert verify_trail(session).intact
