"""What every command of `wi-counter` shares: how it is registered, who acts, and how it opens and prints.

Registration, the one way: each area's module (`app.cli.claims`, `app.cli.charges`, …) has a
`register(cli: CommandLine)` (a module that adds to two places in the command list has a second
registrar of the same shape); `app.cli.build_parser` calls them in the order `--help` lists them.
`cli.command` adds a command, `cli.group` a command with actions, `cli.action` an action to a group
by its name (the `db` group takes the schema's actions and the backup's, `claims` the claim's and the
month's pre-audit).

Who acts: the operator's login *and* password, checked as in the window. A login name alone is never
trusted. The password is asked for on the terminal without echo (`getpass`), or read from the first
line of standard input with `--password-stdin` (scripts, tests); a process whose input is not a
terminal and who gave no `--password-stdin` is refused. The password goes through
`app.operators.authenticate`, so the window's failure count and lockout apply here too, and only the
operator object it returns is accepted by the services. The administrator's commands that have no
service of their own (`settings set` of a setting that loads code or weakens security, `secret
set/delete`, `db restore`, `db downgrade`) sign the administrator in and audit the change
(`admin_signed_in`, `audit_admin`).

Opening and printing: `open_context` (the counter, from `--home`, `--demo`, `--db`), `centre_client`
(the centre client through `app.composition`, with the program's appliers), `print_table`,
`print_json`, `invalid_case` (a case file's problems, as `check`, `settle` and `audit-stay` report them).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import AuthenticationError, WiCounterError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient
    from app.paths import AppPaths
    from app.rules.case import InvalidCase

Handler = Callable[[argparse.Namespace], int]


def common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """`--home`, `--demo`, `--db`: on the command and again on every subcommand (there without defaults,
    so that `wi-counter --demo stays` and `wi-counter stays --demo` mean the same)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--home", type=Path, metavar="DIR", default=default,
        help="配置、数据、日志都放在此文件夹 / keep config, data and logs under DIR",
    )
    parser.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="演示模式：使用独立的演示数据文件夹 / demo mode, on a demo data folder of its own",
    )
    parser.add_argument(
        "--db", metavar="URL", default=default,
        help="数据库地址，优先于设置 / database URL, overrides the settings",
    )


class CommandLine:
    """The commands of `wi-counter` as they are registered (see the module's docstring)."""

    def __init__(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        self._commands = commands
        self._groups: dict[str, argparse._SubParsersAction] = {}  # type: ignore[type-arg]

    def command(self, name: str, help_text: str, handler: Handler,
                aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = self._commands.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        common_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub

    def group(self, name: str, help_text: str, handler: Handler, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        """A command with actions (`wi-counter NAME ACTION`); `handler` runs when no action is given."""
        parser = self.command(name, help_text, handler, aliases)
        self._groups[name] = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
        return parser

    def action(self, group: str, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        sub = self._groups[group].add_parser(name, help=help_text, description=help_text)
        common_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub


def usage(line: str) -> Handler:
    """The handler of a group given no action: its usage on stderr, exit 2."""
    def handler(args: argparse.Namespace) -> int:
        print(f"用法 / usage: {line}", file=sys.stderr)
        return 2
    return handler


# --- opening -----------------------------------------------------------------------------------------


def paths_of(args: argparse.Namespace) -> AppPaths:
    """The folders `--home` and `--demo` name (nothing opened)."""
    from app.paths import resolve_paths

    return resolve_paths(getattr(args, "home", None), demo=getattr(args, "demo", False))


def open_context(args: argparse.Namespace, run_migrations: bool = True, check_database: bool = True) -> CounterContext:
    """The counter `--home`, `--demo` and `--db` name; `check_database=False` only for `db restore`."""
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db, run_migrations=run_migrations,
                        check_database=check_database)


def centre_client(context: CounterContext, actor: Any = None) -> CentreClient:
    """The centre client acting for `actor` (None: the system), with the program's appliers."""
    from app.composition import open_workflow_centre

    return open_workflow_centre(context, actor)


# --- printing ----------------------------------------------------------------------------------------


def print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2))


def print_table(rows: Iterable[Sequence[object]]) -> None:
    """One line per row, the cells separated by tabs (a spreadsheet or `cut -f` reads them)."""
    for row in rows:
        print("\t".join(str(cell) for cell in row))


def invalid_case(exc: InvalidCase, as_json: bool) -> int:
    """Exit 2: every problem with its JSON path on stderr, and as JSON on stdout with --json."""
    print(f"错误：{exc.message}", file=sys.stderr)
    if as_json:
        document: dict[str, object] = {"error": "病例文件无效 / invalid case file",
                                       "problems": [p.as_json() for p in exc.problems]}
        if exc.unclassified:
            document["unclassified"] = exc.unclassified
        print_json(document)
    return 2


def write_file(path: Path, content: bytes) -> None:
    """Nothing half-written: the file appears complete or not at all; user-only, no symlink followed."""
    from app.private_files import write_private

    try:
        write_private(path, content)
    except OSError as exc:
        raise WiCounterError(f"无法写入文件 {path}：{exc.strerror or exc}") from exc


# --- who acts ----------------------------------------------------------------------------------------

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


def admin_if_ready(context: Any, args: argparse.Namespace, permission: Any) -> object:
    """The administrator signed in; None before the first start; False on a database with no tables yet."""
    from app.db import migrate

    if migrate.current_revision(context.engine) is None:
        return False
    return admin_signed_in(context, args, permission)
