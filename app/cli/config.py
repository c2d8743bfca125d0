"""`wi-counter settings list|set|reset` and `wi-counter secret status|set|delete`: the counter's settings
(a TOML file in the config folder) and the secrets in the OS keyring.

A setting that loads code or weakens security (`admin_only`), and every change of a secret, is the
administrator's, signed in with the password and audited (`app.cli.common.admin_signed_in`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from app.cli.common import (
    CommandLine,
    add_operator_options,
    admin_if_ready,
    admin_signed_in,
    audit_admin,
    open_context,
    paths_of,
    read_new_secret,
)
from app.secret_store import AUDIT_KEY, KNOWN_SECRETS

ADMIN_HELP = "管理员登录名（须输入密码，记入审计日志） / administrator login (password asked for; audited)"
ADMIN_SETTING_HELP = ("修改仅限管理员的设置项（加载代码或影响安全，如 card.vendor_library）时，管理员登录名（须输入密码，"
                      "记入审计日志） / for an administrator's setting (loads code or weakens security): the admin's login")


def register(cli: CommandLine) -> None:
    cli.group("settings", "查看和修改设置 / list and change settings", _settings_list)
    cli.action("settings", "list", "列出全部设置 / list every setting", _settings_list)
    set_parser = cli.action("settings", "set", "修改一项设置 / change one setting", _settings_set)
    set_parser.add_argument("key", help="设置项，如 counter.name / setting key, e.g. counter.name")
    set_parser.add_argument("value", help="新值 / new value")
    add_operator_options(set_parser, ADMIN_SETTING_HELP)
    reset_parser = cli.action("settings", "reset", "恢复默认值 / back to the default", _settings_reset)
    reset_parser.add_argument("key", help="设置项 / setting key")
    add_operator_options(reset_parser, ADMIN_SETTING_HELP)

    cli.group("secret", "系统密钥环中的密码和密钥 / passwords and keys in the OS keyring", _secret_status)
    cli.action("secret", "status", "密钥存储和已存的密钥 / the store and what is stored", _secret_status)
    secret_set = cli.action("secret", "set", "保存一项密钥（从键盘或标准输入读取） / store one secret (read from the terminal or stdin)",
                            _secret_set)
    secret_set.add_argument("name", choices=sorted(KNOWN_SECRETS), help="密钥名称 / secret name")
    add_operator_options(secret_set, ADMIN_HELP)
    secret_delete = cli.action("secret", "delete", "删除一项密钥 / delete one secret", _secret_delete)
    secret_delete.add_argument("name", choices=sorted(KNOWN_SECRETS), help="密钥名称 / secret name")
    add_operator_options(secret_delete, ADMIN_HELP)


def _settings_list(args: argparse.Namespace) -> int:
    from app.settings import Settings

    settings = Settings.load(paths_of(args).settings_file)
    print(f"# {settings.path}")
    for spec, value in settings.items():
        marker = "" if settings.is_default(spec) else "  （已修改 / changed）"
        print(f"{spec.key} = {value!r}    # {spec.label}{marker}")
    return 0


def _change_setting(args: argparse.Namespace, reset: bool) -> int:
    from app.operators import Permission
    from app.settings import Settings, setting_by_key

    settings = Settings.load(paths_of(args).settings_file)
    spec = setting_by_key(args.key)
    before = settings.get(spec)
    value = spec.default if reset else spec.parse(args.value)
    if spec.admin_only:
        # Loads code or weakens security: the administrator's password, and an audit event, first.
        context = open_context(args)
        try:
            actor = admin_signed_in(context, args, Permission.CHANGE_SETTINGS)
            settings = Settings.load(paths_of(args).settings_file)  # as it is now, after the sign-in
            before = settings.get(spec)
            audit_admin(context, actor, "setting_changed", "setting", spec.key,
                                          {"key": spec.key, "from": before, "to": value})
        finally:
            context.close()
    if reset:
        settings.reset(spec)
    else:
        settings.set(spec, value)
    settings.save()
    print(f"{spec.key} = {settings.get(spec)!r}    # {spec.label}{'（默认 / default）' if reset else ''}")
    return 0


def _settings_set(args: argparse.Namespace) -> int:
    return _change_setting(args, reset=False)


def _settings_reset(args: argparse.Namespace) -> int:
    return _change_setting(args, reset=True)


def _secret_status(args: argparse.Namespace) -> int:
    from app import secret_store

    print(f"密钥存储 / store: {secret_store.describe_store()}")
    if not secret_store.secure_store_available():
        print(secret_store.NO_STORE_MESSAGE)
        return 1
    for name, purpose in KNOWN_SECRETS.items():
        stored = secret_store.get_secret(name) is not None
        print(f"{name}\t{'已保存 / stored' if stored else '未保存 / not stored'}\t{purpose}")
        if name == AUDIT_KEY and not stored:
            from app.audit import AUDIT_KEY_RESTORE_HINT

            print(f"  审计密钥未保存：尚未记过审计日志时会自动生成；审计日志已签名时请从本机构的密钥备份恢复。"
                  f"{AUDIT_KEY_RESTORE_HINT}")
    return 0


def _secret_admin(args: argparse.Namespace, change: str) -> Callable[[bool], None]:
    """Sign the administrator in for a change of a secret; returns `finish(done)`, which audits a change made.

    The database's own password is the exception when the database cannot be opened without it
    (a new site, or a changed password): nobody can sign in then, and a wrong one only locks the
    counter out of its database."""
    from app.secret_store import DATABASE_PASSWORD
    from app.errors import ConfigurationError
    from app.operators import Permission

    try:
        context = open_context(args)
    except ConfigurationError:
        if args.name != DATABASE_PASSWORD:
            raise
        return lambda done: None
    try:
        actor = admin_if_ready(context, args, Permission.CHANGE_SETTINGS)
    except BaseException:
        context.close()
        raise

    def finish(done: bool) -> None:
        try:
            if done and actor is not False:
                audit_admin(context, actor, change, "secret", args.name, {"name": args.name})
        finally:
            context.close()
    return finish


def _secret_set(args: argparse.Namespace) -> int:
    from app import secret_store

    finish = _secret_admin(args, "secret_set")
    try:
        value = read_new_secret(args, f"{KNOWN_SECRETS[args.name]}: ")
        if value:
            secret_store.set_secret(args.name, value)
    except BaseException:
        finish(False)
        raise
    finish(bool(value))
    if not value:
        print("错误：密钥为空，未保存 / empty, nothing stored", file=sys.stderr)
        return 2
    print(f"已保存到密钥环 / stored in the keyring: {args.name}")
    return 0


def _secret_delete(args: argparse.Namespace) -> int:
    from app import secret_store

    finish = _secret_admin(args, "secret_deleted")
    try:
        secret_store.delete_secret(args.name)
    except BaseException:
        finish(False)
        raise
    finish(True)
    print(f"已删除 / deleted: {args.name}")
    return 0
