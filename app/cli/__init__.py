"""The `wi-counter` command (also `python -m app`).

This module is the composition root: it alone in `app` reaches the outer layers,
lazily and only inside the subcommand that needs them, so that the domain
commands start fast and never load Qt (ARCHITECTURE.md).

Exit status: 0 done, 1 failed (message on stderr), 2 bad usage or invalid input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app import __version__
from app.cli import common as commands_identity, words as cli_words
from app.cli.common import add_operator_options
from app.errors import WiCounterError
from app.rules.case import InvalidCase
from app.secret_store import AUDIT_KEY, KNOWN_SECRETS
from app.settings import SLIP_PAPER

Handler = Callable[[argparse.Namespace], int]

ADMIN_HELP = "管理员登录名（须输入密码，记入审计日志） / administrator login (password asked for; audited)"
ADMIN_SETTING_HELP = ("修改仅限管理员的设置项（加载代码或影响安全，如 card.vendor_library）时，管理员登录名（须输入密码，"
                      "记入审计日志） / for an administrator's setting (loads code or weakens security): the admin's login")

DESCRIPTION = """工伤联网结算窗口：读社保卡、核验备案、伤病分离、出院结算、打印结算单、月度结算。
wi-counter: the work-injury insurance settlement counter of a hospital."""

EPILOG = """不带子命令时打开收费窗口（同 gui）。 Without a subcommand, opens the counter window (same as gui).
环境变量 / environment: WI_COUNTER_HOME（全部文件放在此文件夹 / keep all files under this folder），
WI_COUNTER_DB_URL（数据库地址 / database URL）。"""


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    cli_words.install()  # before any parser exists: the help texts of -h and --version are made with it
    parser = argparse.ArgumentParser(
        prog="wi-counter", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wi-counter {__version__}")
    _common_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="子命令 / commands")

    def command(name: str, help_text: str, handler: Handler, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        _common_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub

    command("gui", "打开收费窗口（默认） / open the counter window (default)", _run_gui)

    def action(group: argparse._SubParsersAction, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        sub = group.add_parser(name, help=help_text, description=help_text)
        _common_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub

    check = command("check", "核验备案：能否直接结算及原因 / filing verdict for a case file", _check)
    check.add_argument("case", type=Path, metavar="CASE.json", help="病例文件（wi-counter-case/1） / case file")
    check.add_argument("--stage", required=True, choices=("admission", "discharge"),
                       help="入院登记或出院结算 / at admission or at discharge")
    check.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    settle = command("settle", "计算结算：伤病分离与结算单金额 / compute the settlement of a case file", _settle)
    settle.add_argument("case", type=Path, metavar="CASE.json", help="病例文件（wi-counter-case/1） / case file")
    settle.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    settle.add_argument("--slip", type=Path, metavar="OUT.pdf",
                        help="另生成结算单预览 PDF（标明 预结算（非正式结算单））/ also render the preview slip to OUT.pdf")
    settle.add_argument("--paper", choices=SLIP_PAPER.choices,
                        help="结算单纸张，默认取设置 slip.paper / slip paper, default: the setting slip.paper")

    db = command("db", "数据库维护 / database maintenance", _db_help)
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = action(db_commands, "upgrade", "升级数据库结构（先备份 SQLite） / migrate the schema (SQLite backed up first)", _db_upgrade)
    up.add_argument("revision", nargs="?", default="head", help="目标版本，默认最新 / target revision, default head")
    down = action(db_commands, "downgrade", "降级数据库结构 / migrate the schema down", _db_downgrade)
    down.add_argument("revision", help="目标版本（base 为空库） / target revision (base: empty)")
    add_operator_options(down, ADMIN_HELP)
    action(db_commands, "current", "显示数据库结构版本 / show the schema revision", _db_current)
    from app.cli import admin as commands_admin  # audit verify; db backup / restore (issue 9)

    commands_admin.register_db(db_commands, action)

    settings = command("settings", "查看和修改设置 / list and change settings", _settings_list)
    settings_commands = settings.add_subparsers(dest="settings_command", metavar="ACTION")
    action(settings_commands, "list", "列出全部设置 / list every setting", _settings_list)
    set_parser = action(settings_commands, "set", "修改一项设置 / change one setting", _settings_set)
    set_parser.add_argument("key", help="设置项，如 counter.name / setting key, e.g. counter.name")
    set_parser.add_argument("value", help="新值 / new value")
    add_operator_options(set_parser, ADMIN_SETTING_HELP)
    reset_parser = action(settings_commands, "reset", "恢复默认值 / back to the default", _settings_reset)
    reset_parser.add_argument("key", help="设置项 / setting key")
    add_operator_options(reset_parser, ADMIN_SETTING_HELP)

    secret = command("secret", "系统密钥环中的密码和密钥 / passwords and keys in the OS keyring", _secret_status)
    secret_commands = secret.add_subparsers(dest="secret_command", metavar="ACTION")
    action(secret_commands, "status", "密钥存储和已存的密钥 / the store and what is stored", _secret_status)
    secret_set = action(secret_commands, "set", "保存一项密钥（从键盘或标准输入读取） / store one secret (read from the terminal or stdin)", _secret_set)
    secret_set.add_argument("name", choices=sorted(KNOWN_SECRETS), help="密钥名称 / secret name")
    add_operator_options(secret_set, ADMIN_HELP)
    secret_delete = action(secret_commands, "delete", "删除一项密钥 / delete one secret", _secret_delete)
    secret_delete.add_argument("name", choices=sorted(KNOWN_SECRETS), help="密钥名称 / secret name")
    add_operator_options(secret_delete, ADMIN_HELP)

    operator = command("operator", "操作员 / operators", _operator_list, aliases=("operators",))
    operator_commands = operator.add_subparsers(dest="operator_command", metavar="ACTION")
    action(operator_commands, "list", "列出操作员 / list operators", _operator_list)
    commands_identity.register_operators(operator_commands, action)

    # --- card commands (issue 3) ---
    card = command("card", "社保卡读卡器 / the social security card reader", _card_help)
    card_commands = card.add_subparsers(dest="card_command", metavar="ACTION")
    action(card_commands, "readers", "列出读卡器及有无插卡 / list readers and whether a card is in", _card_readers)
    card_read = action(card_commands, "read", "读取社保卡 / read the social security card", _card_read)
    card_read.add_argument("--reader", metavar="NAME", help="读卡器名称，默认按设置或第一台 / reader name")
    card_read.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    card_simulate = action(
        card_commands, "simulate",
        "把虚拟社保卡插入 vpcd 虚拟读卡器（演示、培训），Ctrl+C 结束 / plug a virtual card into vpcd until interrupted",
        _card_simulate,
    )
    card_simulate.add_argument("person", metavar="PERSON.json", help="持卡人文件，见 resources/demo/cards/ / card holder file")
    card_simulate.add_argument("--host", default="127.0.0.1", help="vpcd 地址 / vpcd host")
    card_simulate.add_argument("--port", type=int, default=35963, help="vpcd 端口（35963 = Virtual PCD 00 00） / vpcd port")

    # --- centre commands (issue 5) ---
    # One `centre` group: the client's status/outbox/resolve (app.centre.commands) and the
    # sandbox's `serve` register their actions on `centre_commands`.
    from app.cli import centre as centre_cli

    centre = command("centre", "结算中心：联网状态、发件箱、沙箱中心 / the settlement centre", centre_cli.centre_status)
    centre_commands = centre.add_subparsers(dest="centre_command", metavar="ACTION")
    centre_status = action(centre_commands, "status", "检测结算中心能否连接，统计未确定的交易 / probe the centre, count open outbox entries",
                           centre_cli.centre_status)
    centre_status.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    centre_outbox = action(centre_commands, "outbox", "列出结果未确定的交易（发件箱） / list open outbox entries",
                           centre_cli.centre_outbox)
    centre_outbox.add_argument("--all", action="store_true", help="包括已完成的 / include finished entries")
    centre_outbox.add_argument("--limit", type=int, default=50, help="最多列出条数 / at most N entries (default 50)")
    centre_outbox.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    centre_resolve = action(centre_commands, "resolve", "按报文编号查询并处理结果未确定的交易 / resolve open entries by msgid",
                            centre_cli.centre_resolve)
    centre_resolve.add_argument("--reverse", metavar="MSGID",
                                help="冲正（撤销）此报文编号的交易（审核员，须输入密码，记入审计日志）"
                                     " / reverse the call with this msgid (a reviewer, with the password; audited)")
    add_operator_options(centre_resolve, "冲正时的审核员登录名 / the reviewer's login, for --reverse")
    centre_reconcile = action(centre_commands, "reconcile", "与结算中心对账（总账、明细） / daily reconciliation with the centre",
                              centre_cli.centre_reconcile)
    centre_reconcile.add_argument("--date", metavar="YYYY-MM-DD", help="业务日期，默认今天 / business date, default today")
    centre_reconcile.add_argument("--details", action="store_true",
                                  help="总账一致也逐笔核对明细 / compare the details even when the totals agree")
    centre_differences = action(centre_commands, "differences", "对账差异（待审核员处理） / reconciliation differences",
                                centre_cli.centre_differences)
    centre_differences.add_argument("--date", metavar="YYYY-MM-DD", help="只看此业务日期 / only this business date")
    centre_differences.add_argument("--all", action="store_true", help="包括已处理的 / include those dealt with")
    centre_review = action(centre_commands, "review", "审核员记录对账差异的处理情况 / record how a difference was dealt with",
                           centre_cli.centre_review)
    centre_review.add_argument("id", type=int, metavar="ID", help="差异编号（见 differences） / difference id")
    centre_review.add_argument("--note", required=True, help="处理情况，如：已补记、已冲正 / what was done")
    add_operator_options(centre_review, "审核员登录名（须输入密码） / reviewer login (password asked for)")
    centre_calls = action(centre_commands, "calls", "调用日志：每次与中心的交互及结果 / the call log", centre_cli.centre_calls)
    centre_calls.add_argument("--msgid", help="只看此报文编号 / only this msgid")
    centre_calls.add_argument("--limit", type=int, default=50, help="最近 N 条（默认 50） / the last N calls")
    centre_calls.add_argument("--full", action="store_true", help="含请求和应答内容 / with request and reply data")
    centre_calls.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    from app.centre.sandbox import cli as sandbox_cli

    centre_serve = action(centre_commands, "serve",
                          "运行沙箱结算中心（培训、演示、测试用） / run the sandbox settlement centre (training, demo, tests)",
                          sandbox_cli.serve)
    sandbox_cli.add_arguments(centre_serve)

    # --- stay commands (issue 6, workflow B) ---
    from app.cli import stays as stays_cli

    stays = command("stays", "住院一览：在院、待结算、已结算、已撤销、待补登记（身份证号已遮蔽） / the stays at a glance",
                    stays_cli.stays)
    stays_cli.add_arguments(stays)
    from app.cli import admission as commands_admission  # 更正 / 撤销入院登记 (issue 20 §3)

    commands_admission.register(command, action)
    from app.cli import rehab as commands_rehab  # 康复方案 before the discharge settlement (000 §30)

    commands_rehab.register(command, action)

    # --- slip commands (issue 7) ---
    slip = command("slip", "打印已结算记录的结算单（存档并记入打印记录；再次打印为补打）"
                           " / issue the slip of a stored settlement (archived and logged; later prints are 补打)", _slip)
    slip.add_argument("settlement_id", type=int, metavar="SETTLEMENT_ID", help="结算记录编号 / settlement id")
    slip.add_argument("--out", type=Path, metavar="OUT.pdf", help="另存一份 PDF 到此处 / also write the PDF here")
    add_operator_options(slip, "制单人（操作员登录名，须输入其密码，记入打印记录）；默认取环境变量 WI_COUNTER_OPERATOR，"
                               "只有一名在用操作员时取该操作员 / who issues it (operator login, password asked for; "
                               "logged); default: $WI_COUNTER_OPERATOR, or the only active operator")
    slip.add_argument("--paper", choices=SLIP_PAPER.choices,
                      help="纸张，默认取设置 slip.paper / paper, default: the setting slip.paper")

    # --- charges commands (issue 6) ---
    from app.cli import charges as commands_charges

    commands_charges.register(command, action)

    # --- monthly claims (issue 8) ---
    from app.cli import claims as claims_cli

    claims_cli.register(command, action)
    from app.cli import calendar as commands_calendar

    commands_calendar.register(command, action)
    commands_admin.register(command, action)

    doctor = command("doctor", "检查本机能否开始收费（读卡器、中心、数据库、密钥、打印机…） / check this counter", _doctor)
    doctor.add_argument("--json", action="store_true", help="以 JSON 输出 / output JSON")

    # --- pre-audit (issue 10) ---
    from app.cli import preaudit as preaudit_cli

    preaudit_cli.register(command, action)

    # --- 日结 (issue 20 §10) ---
    from app.cli import dayend as commands_dayend

    commands_dayend.register(command, action)

    return parser


# --- handlers ----------------------------------------------------------------------


def _card_help(args: argparse.Namespace) -> int:
    print("用法 / usage: wi-counter card {readers,read,simulate}", file=sys.stderr)
    return 2


def _card_readers(args: argparse.Namespace) -> int:
    from devices import cli as card_cli  # the card reader layer, loaded only for card commands

    return card_cli.readers(args)


def _card_read(args: argparse.Namespace) -> int:
    from devices import cli as card_cli

    return card_cli.read(args)


def _card_simulate(args: argparse.Namespace) -> int:
    from devices import cli as card_cli

    return card_cli.simulate(args)


NO_DISPLAY_TEXT = (
    "错误：没有可用的图形显示，收费窗口无法打开。请在桌面会话中运行；远程登录时请用带图形转发的方式"
    "（如 ssh -X），或只用命令行子命令。\n"
    "error: no graphical display (DISPLAY / WAYLAND_DISPLAY unset), so the window cannot open."
)


def missing_display(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """On Linux without X11 or Wayland (and no Qt platform chosen), Qt would abort in English (exit 134)."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _run_gui(args: argparse.Namespace) -> int:
    if missing_display():
        print(NO_DISPLAY_TEXT, file=sys.stderr)
        return 1
    from ui.main import run_gui  # Qt is loaded only for the window

    return run_gui(home=args.home, demo=args.demo, db_url=args.db)


def _doctor(args: argparse.Namespace) -> int:
    """What a hospital's IT person runs on a new counter (issue 24 §5): one line per check."""
    from app import doctor
    from app.doctor import Level

    paths, settings = _paths_and_settings(args)
    findings = doctor.run(doctor.standard_checks(paths, settings, args.db, _outer_probes()))
    if args.json:
        print(json.dumps([finding.as_json() for finding in findings], ensure_ascii=False, indent=2))
    else:
        for finding in findings:
            print(finding.line())
        errors = sum(1 for finding in findings if finding.level is Level.ERROR)
        warnings = sum(1 for finding in findings if finding.level is Level.WARNING)
        print(f"共 {len(findings)} 项：错误 {errors}，注意 {warnings}。" if errors or warnings
              else f"共 {len(findings)} 项，全部正常。")
    return doctor.exit_code(findings)


def _paths_and_settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from app.logging_setup import configure_logging
    from app.paths import resolve_paths
    from app.settings import LOG_LEVEL, Settings

    paths = resolve_paths(args.home, demo=args.demo)
    paths.create()
    settings = Settings.load(paths.settings_file)
    configure_logging(paths.log_file, settings.get(LOG_LEVEL))
    return paths, settings


def _outer_probes():  # type: ignore[no-untyped-def]
    """The reader, the printers and the test page: the outer layers the doctor may not import itself."""
    from app.doctor import OuterProbes
    from devices.cli import reader_finding
    from printing.test_page import render

    def printers() -> tuple[str | None, list[str]]:
        from ui.printer_check import printers as qt_printers  # Qt's print system, as the window prints

        return qt_printers()

    return OuterProbes(reader=reader_finding, printers=printers, test_page=render)


def _invalid_case(exc: InvalidCase, as_json: bool) -> int:
    """Exit 2: every problem with its JSON path on stderr, and as JSON on stdout with --json."""
    print(f"错误：{exc.message}", file=sys.stderr)
    if as_json:
        document: dict[str, object] = {"error": "病例文件无效 / invalid case file",
                                       "problems": [p.as_json() for p in exc.problems]}
        if exc.unclassified:
            document["unclassified"] = exc.unclassified
        print(json.dumps(document, ensure_ascii=False, indent=2))
    return 2


def _check(args: argparse.Namespace) -> int:
    from app.rules.case import read_case_file, require_settled
    from app.rules.report import verdict_text
    from app.rules.verdict import judge

    try:
        case = read_case_file(args.case)
        if args.stage == "discharge":
            require_settled(case)
    except InvalidCase as exc:
        return _invalid_case(exc, args.json)
    verdict = judge(case, args.stage)
    print(json.dumps(verdict.as_json(), ensure_ascii=False, indent=2) if args.json else verdict_text(verdict))
    return 0


def _settle(args: argparse.Namespace) -> int:
    from app.rules.case import read_case_file, require_settled
    from app.rules.report import settlement_text
    from app.rules.settlement import compute

    try:
        case = read_case_file(args.case)
        require_settled(case)
        result = compute(case)
    except InvalidCase as exc:
        return _invalid_case(exc, args.json)
    print(json.dumps(result.as_json(), ensure_ascii=False, indent=2) if args.json else settlement_text(result))
    if args.slip is not None:
        from app.settings import Settings
        from app.slips import slip_from_case
        from printing.templates import render_slip  # reportlab is loaded only for a slip

        settings = Settings.load(_settings_file(args))
        # The case's profile picks the form: 附表3 in Guangdong, the cross-province slip in Beijing and the pilot.
        pdf = render_slip(slip_from_case(case, result), paper=args.paper or settings.get(SLIP_PAPER))
        _write_atomically(args.slip, pdf)
        print(f"预结算单（非正式结算单）/ preview slip: {args.slip}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _write_atomically(path: Path, content: bytes) -> None:
    """Nothing half-written: the file appears complete or not at all; user-only, no symlink followed."""
    from app.private_files import write_private

    try:
        write_private(path, content)
    except OSError as exc:
        raise WiCounterError(f"无法写入文件 {path}：{exc.strerror or exc}") from exc


def _slip(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.settings import SLIP_ARCHIVE_DIR
    from app.slips import archive_folder, commit_issue, prepare_slip
    from printing.templates import render_slip  # reportlab is loaded only for a slip

    context = _open(args)
    try:
        settings = context.settings
        folder = archive_folder(settings.get(SLIP_ARCHIVE_DIR), context.paths.data_dir)
        operator = commands_identity.signed_in(context, args, Permission.PRINT_SLIP, who="制单人")
        with context.transaction() as session:
            data = prepare_slip(session, args.settlement_id, operator)
            pdf = render_slip(data, paper=args.paper or settings.get(SLIP_PAPER))
            printer = f"PDF 文件 {args.out}" if args.out is not None else "仅存档（PDF）"
            issued = commit_issue(session, data, pdf, operator_id=operator.id, printer=printer, folder=folder)
            if args.out is not None:
                try:
                    _write_atomically(args.out, pdf)
                except WiCounterError:  # a failed write logs nothing and archives nothing
                    issued.archive_path.unlink(missing_ok=True)
                    raise
    finally:
        context.close()
    what = data.mark.label or "原件"
    if args.out is not None:
        print(f"结算单（{what}）/ slip: {args.out}")
    print(f"已存档 / archived: {issued.archive_path}")
    return 0


def _open(args: argparse.Namespace, run_migrations: bool = True):  # type: ignore[no-untyped-def]
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db, run_migrations=run_migrations)


def _db_help(args: argparse.Namespace) -> int:
    print("用法 / usage: wi-counter db {upgrade,downgrade,current,backup,restore}", file=sys.stderr)
    return 2


def _db_upgrade(args: argparse.Namespace) -> int:
    from app.db import migrate
    from app.settings import BACKUP_KEEP

    context = _open(args, run_migrations=False)
    try:
        result = migrate.upgrade(
            context.engine, args.revision, backup_dir=context.paths.backup_dir, keep=context.settings.get(BACKUP_KEEP),
            kind="demo" if args.demo else "site",
        )
    finally:
        context.close()
    if result.backup is not None:
        print(f"已备份 / backed up: {result.backup}")
    if result.changed:
        print(f"数据库结构 / schema: {result.from_revision or '空库 empty'} → {result.to_revision}")
    else:
        print(f"数据库结构已是最新 / schema already at {result.to_revision}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from app.db import migrate

    from app.operators import Permission

    context = _open(args, run_migrations=False)
    try:
        # Dropping tables (the audit trail's among them) is the administrator's, audited before it happens.
        actor = _admin_if_ready(context, args, Permission.CHANGE_SETTINGS)
        if actor is not False:
            commands_identity.audit_admin(context, actor, "db_downgrade", "database", context.database_description,
                                          {"from": migrate.current_revision(context.engine), "to": args.revision})
        result = migrate.downgrade(context.engine, args.revision)
    finally:
        context.close()
    print(f"数据库结构 / schema: {result.from_revision} → {result.to_revision or 'base（空库 empty）'}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from app.db import migrate

    context = _open(args, run_migrations=False)
    try:
        current = migrate.current_revision(context.engine)
        head = migrate.head_revision()
        print(f"{context.database_description}: {current or 'base（空库 empty）'}（最新 / head {head}）")
    finally:
        context.close()
    return 0


def _settings_file(args: argparse.Namespace) -> Path:
    from app.paths import resolve_paths

    return resolve_paths(args.home, demo=args.demo).settings_file


def _settings_list(args: argparse.Namespace) -> int:
    from app.settings import Settings

    settings = Settings.load(_settings_file(args))
    print(f"# {settings.path}")
    for spec, value in settings.items():
        marker = "" if settings.is_default(spec) else "  （已修改 / changed）"
        print(f"{spec.key} = {value!r}    # {spec.label}{marker}")
    return 0


def _admin_if_ready(context, args: argparse.Namespace, permission) -> object:  # type: ignore[no-untyped-def]
    """The administrator signed in; None before the first start; False on a database with no tables yet."""
    from app.db import migrate

    if migrate.current_revision(context.engine) is None:
        return False
    return commands_identity.admin_signed_in(context, args, permission)


def _change_setting(args: argparse.Namespace, reset: bool) -> int:
    from app.operators import Permission
    from app.settings import Settings, setting_by_key

    settings = Settings.load(_settings_file(args))
    spec = setting_by_key(args.key)
    before = settings.get(spec)
    value = spec.default if reset else spec.parse(args.value)
    if spec.admin_only:
        # Loads code or weakens security: the administrator's password, and an audit event, first.
        context = _open(args)
        try:
            actor = commands_identity.admin_signed_in(context, args, Permission.CHANGE_SETTINGS)
            settings = Settings.load(_settings_file(args))  # as it is now, after the sign-in
            before = settings.get(spec)
            commands_identity.audit_admin(context, actor, "setting_changed", "setting", spec.key,
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
        context = _open(args)
    except ConfigurationError:
        if args.name != DATABASE_PASSWORD:
            raise
        return lambda done: None
    try:
        actor = _admin_if_ready(context, args, Permission.CHANGE_SETTINGS)
    except BaseException:
        context.close()
        raise

    def finish(done: bool) -> None:
        try:
            if done and actor is not False:
                commands_identity.audit_admin(context, actor, change, "secret", args.name, {"name": args.name})
        finally:
            context.close()
    return finish


def _secret_set(args: argparse.Namespace) -> int:
    from app import secret_store

    finish = _secret_admin(args, "secret_set")
    try:
        value = commands_identity.read_new_secret(args, f"{KNOWN_SECRETS[args.name]}: ")
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


def _operator_list(args: argparse.Namespace) -> int:
    from app.operators import list_operators

    context = _open(args)
    try:
        with context.transaction() as session:
            operators = list_operators(session)
    finally:
        context.close()
    if not operators:
        print("尚无操作员：首次打开窗口时创建管理员 / no operators yet: the first start creates the administrator")
    for operator in operators:
        print(f"{operator.login}\t{operator.display_name}\t{operator.role_label}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = getattr(args, "handler", _run_gui)
    try:
        return handler(args)
    except WiCounterError as exc:
        from app.errors import AuthenticationError, PermissionDenied

        if isinstance(exc, AuthenticationError | PermissionDenied):
            _log_refusal(args, exc)
        print(f"错误：{exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - the last guard: the console gets a number, the log the traceback
        if os.environ.get("WI_COUNTER_TRACEBACK") == "1":
            raise  # a developer asked for the raw traceback
        return _unexpected_error()


def _log_refusal(args: argparse.Namespace, exc: WiCounterError) -> None:
    """A command refused for the credential or the role, and who it was tried as (issue 24 §6).

    The command's words only (not its values, which can be ID numbers); everything masked."""
    import logging

    from app.cli.common import OPERATOR_ENV
    from app.masking import mask_ids_in_text

    words = [str(v) for k, v in vars(args).items() if (k == "command" or k.endswith("_command")) and isinstance(v, str)]
    claimed = getattr(args, "operator", None) or os.environ.get(OPERATOR_ENV) or "（未指定）"
    logging.getLogger(__name__).warning(mask_ids_in_text(
        f"拒绝执行命令 {' '.join(words) or '?'}：以操作员 {claimed} 的名义，{exc.message}"))


def _unexpected_error() -> int:
    """An error no command foresaw: a number to quote on the console, the stack (IDs masked) in the log.

    A traceback can carry a worker's ID number or name (issue 22 §7), so it never goes to the console.
    """
    import logging
    import secrets

    incident = secrets.token_hex(4).upper()
    root = logging.getLogger()
    logged = any(getattr(handler, "baseFilename", None) for handler in root.handlers)
    if logged:
        logging.getLogger(__name__).exception("命令行未处理的错误（编号 %s）", incident)
    where = "详情已写入日志" if logged else "未能写入日志（日志尚未打开）"
    print(f"错误：程序内部出错，本次操作未完成（编号 {incident}）。{where}；请把编号告诉信息科。\n"
          f"error: internal error (incident {incident})", file=sys.stderr)
    return 1
