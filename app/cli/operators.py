"""`wi-counter operator list|disable|enable|reset-password` (also `operators`): the counter's operators.

Disabling, enabling and resetting a password are the administrator's (signed in with the password,
`app.cli.common.signed_in`), audited by `app.operators`.
"""

from __future__ import annotations

import argparse

from app.cli.common import CommandLine, add_operator_options, open_context, print_table, read_new_secret, signed_in
from app.errors import WiCounterError

ADMIN_LOGIN_HELP = "管理员登录名 / administrator login"


def register(cli: CommandLine) -> None:
    cli.group("operator", "操作员 / operators", operator_list, aliases=("operators",))
    cli.action("operator", "list", "列出操作员 / list operators", operator_list)
    disable = cli.action("operator", "disable", "停用操作员（管理员，记入审计日志） / disable an operator (admin, audited)",
                         _disable)
    disable.add_argument("login", metavar="LOGIN", help="要停用的操作员登录名 / the operator to disable")
    add_operator_options(disable, ADMIN_LOGIN_HELP)
    enable = cli.action("operator", "enable",
                        "重新启用操作员（管理员，记入审计日志） / enable an operator again (admin, audited)", _enable)
    enable.add_argument("login", metavar="LOGIN", help="要启用的操作员登录名 / the operator to enable")
    add_operator_options(enable, ADMIN_LOGIN_HELP)
    reset = cli.action("operator", "reset-password",
                       "重设操作员密码并解除锁定（管理员，记入审计日志；新密码在管理员密码之后输入）"
                       " / set a new password and unlock (admin, audited; the new password after the admin's)",
                       _reset_password)
    reset.add_argument("login", metavar="LOGIN", help="操作员登录名 / the operator")
    add_operator_options(reset, ADMIN_LOGIN_HELP)


def operator_list(args: argparse.Namespace) -> int:
    from app.operators import list_operators

    context = open_context(args)
    try:
        with context.transaction() as session:
            operators = list_operators(session)
    finally:
        context.close()
    if not operators:
        print("尚无操作员：首次打开窗口时创建管理员 / no operators yet: the first start creates the administrator")
    print_table((operator.login, operator.display_name, operator.role_label) for operator in operators)
    return 0


def _set_active(args: argparse.Namespace, active: bool) -> int:
    from app.operators import Permission, set_operator_active

    context = open_context(args)
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

    context = open_context(args)
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
