"""Who acts on the command line: the operator's login *and* password, checked as in the window.

A login name alone is never trusted. The password is asked for on the terminal without echo
(`getpass`), or read from the first line of standard input with `--password-stdin` (scripts,
tests); a process whose input is not a terminal and who gave no `--password-stdin` is refused.
The password goes through `app.operators.authenticate`, so the window's failure count and lockout
apply here too, and only the operator object it returns is accepted by the services.

Also here: the administrator's commands that have no service of their own (`settings set` of a
setting that loads code or weakens security, `secret set/delete`, `db restore`, `db downgrade`)
sign the administrator in and audit the change (`admin_signed_in`, `audit_admin`), and
`wi-counter operators disable|enable|reset-password`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from app.errors import AuthenticationError, WiCounterError

Handler = Callable[[argparse.Namespace], int]

OPERATOR_ENV = "WI_COUNTER_OPERATOR"
OPERATOR_HELP = ("操作员登录名（记入审计日志），须输入其密码；默认取环境变量 WI_COUNTER_OPERATOR，或唯一有此权限的在用操作员"
                 " / operator login (audited), whose password is asked for; default: $WI_COUNTER_OPERATOR, "
                 "or the only active operator allowed to act")
PASSWORD_STDIN_HELP = ("从标准输入的第一行读取操作员密码（不回显，供脚本使用） / read the operator's password from the "
                       "first line of standard input (for scripts)")
NO_PASSWORD = ("需要操作员本人的密码才能以其名义操作，未执行任何操作。"
               "请在终端中运行以输入密码（输入时不显示），或由脚本从标准输入提供密码。")


def add_operator_options(parser: argparse.ArgumentParser, help_text: str = OPERATOR_HELP,
                         default: str | None = None) -> None:
    """`--operator LOGIN` and `--password-stdin` on a command done in someone's name."""
    parser.add_argument("--operator", metavar="LOGIN", default=default, help=help_text)
    parser.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN_HELP)


def _read_secret_line(args: argparse.Namespace, prompt: str) -> str:
    """The next secret: a line of standard input with --password-stdin, else typed without echo."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise AuthenticationError(NO_PASSWORD)


def read_password(args: argparse.Namespace, login: str) -> str:
    password = _read_secret_line(args, f"操作员 {login} 的密码 / password: ")
    if not password:
        raise AuthenticationError("未输入密码，未执行任何操作。")
    return password


def read_new_secret(args: argparse.Namespace, prompt: str) -> str:
    """A second secret after the operator's password (a new password, a key): next stdin line or typed."""
    if getattr(args, "password_stdin", False) or sys.stdin.isatty():
        return _read_secret_line(args, prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _login(session: Any, args: argparse.Namespace, permission: Any, who: str) -> str:
    """The login typed, else $WI_COUNTER_OPERATOR, else the only active operator who may act."""
    from sqlalchemy import select

    from app.db.models import Operator
    from app.operators import ROLE_PERMISSIONS

    login = getattr(args, "operator", None) or os.environ.get(OPERATOR_ENV)
    if login:
        return str(login)
    active = session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.login)).all()
    allowed = [o for o in active if permission is None or permission in ROLE_PERMISSIONS[o.role]]
    if len(allowed) != 1:
        names = "、".join(o.login for o in (allowed or active)) or "（无）"
        raise AuthenticationError(f"请用 --operator 指定{who}（在用操作员：{names}）。")
    return str(allowed[0].login)


def signed_in(context: Any, args: argparse.Namespace, permission: Any = None, who: str = "操作员") -> Any:
    """The operator, signed in with the password (committed: the login, or the refusal and its count).

    With `permission`, the role is checked too, before the command does anything."""
    from app.operators import authenticate, require

    with context.transaction() as session:
        login = _login(session, args, permission, who)
    password = read_password(args, login)
    with context.transaction() as session:
        actor = authenticate(session, login, password, context.counter_name, channel="cli")
    if permission is not None:
        require(actor, permission)
    return actor


def admin_signed_in(context: Any, args: argparse.Namespace, permission: Any) -> Any:
    """An administrator for an administrator's command; None only before the first start created one.

    Before the first start (no administrator yet) the machine's user sets the counter up, as the
    window's first start lets them; from then on the administrator's password is needed."""
    from sqlalchemy import func, select

    from app.db.models import Operator, Role

    with context.transaction() as session:
        admins = session.scalar(select(func.count()).select_from(Operator).where(Operator.role == Role.ADMIN)) or 0
    if not admins:
        return None
    return signed_in(context, args, permission, who="管理员")


def audit_admin(context: Any, actor: Any, action: str, entity_type: str, entity_id: str,
                detail: dict[str, Any]) -> None:
    """The administrator's change, in the audit trail."""
    from app import audit

    with context.transaction() as session:
        audit.record(session, action, operator_id=actor.id if actor is not None else None,
                     counter_name=context.counter_name, entity_type=entity_type, entity_id=entity_id,
                     detail=detail)


# --- wi-counter operators disable|enable|reset-password ------------------------------------------------


def register_operators(operator_commands: Any,
                       action: Callable[[Any, str, str, Handler], argparse.ArgumentParser]) -> None:
    disable = action(operator_commands, "disable", "停用操作员（管理员，记入审计日志） / disable an operator (admin, audited)",
                     _disable)
    disable.add_argument("login", metavar="LOGIN", help="要停用的操作员登录名 / the operator to disable")
    add_operator_options(disable, "管理员登录名 / administrator login")
    enable = action(operator_commands, "enable", "重新启用操作员（管理员，记入审计日志） / enable an operator again (admin, audited)",
                    _enable)
    enable.add_argument("login", metavar="LOGIN", help="要启用的操作员登录名 / the operator to enable")
    add_operator_options(enable, "管理员登录名 / administrator login")
    reset = action(operator_commands, "reset-password",
                   "重设操作员密码并解除锁定（管理员，记入审计日志；新密码在管理员密码之后输入）"
                   " / set a new password and unlock (admin, audited; the new password after the admin's)",
                   _reset_password)
    reset.add_argument("login", metavar="LOGIN", help="操作员登录名 / the operator")
    add_operator_options(reset, "管理员登录名 / administrator login")


def _open(args: argparse.Namespace) -> Any:
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db)


def _set_active(args: argparse.Namespace, active: bool) -> int:
    from app.operators import Permission, set_operator_active

    context = _open(args)
    try:
        actor = signed_in(context, args, Permission.MANAGE_OPERATORS, who="管理员")
        with context.transaction() as session:
            operator = set_operator_active(session, actor, args.login, active, context.counter_name)
    finally:
        context.close()
    print(f"已{'启用' if active else '停用'}操作员 {operator.login}（{operator.display_name}）"
          f" / {'enabled' if active else 'disabled'}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    return _set_active(args, False)


def _enable(args: argparse.Namespace) -> int:
    return _set_active(args, True)


def _reset_password(args: argparse.Namespace) -> int:
    from app.operators import Permission, reset_password

    context = _open(args)
    try:
        actor = signed_in(context, args, Permission.MANAGE_OPERATORS, who="管理员")
        new_password = read_new_secret(args, f"{args.login} 的新密码 / new password: ")
        if not new_password:
            raise WiCounterError("新密码为空，未修改")
        with context.transaction() as session:
            reset_password(session, actor, args.login, new_password, context.counter_name)
    finally:
        context.close()
    print(f"已重设 {args.login} 的密码并解除锁定 / password reset")
    return 0
