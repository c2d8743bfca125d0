"""The `wi-counter` command (also `python -m app`): the command line, one package.

This package is the composition root of the front ends: it alone in `app` reaches the outer layers
(`ui`, `devices`, `printing`), lazily and only inside the subcommand that needs them, so that the
domain commands start fast and never load Qt (ARCHITECTURE.md). `build_parser` calls each area's
registrar in the order `--help` lists the commands; `app.cli.common` holds the one way a command is
registered (`CommandLine`) and what the commands share (opening the counter, signing an operator in,
the centre client, printing).

Exit status: 0 done, 1 failed (message on stderr), 2 bad usage or invalid input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.cli import (
    admin,
    admission,
    calendar,
    card,
    cases,
    centre,
    charges,
    claims,
    config,
    dayend,
    doctor,
    operators,
    preaudit,
    rehab,
    slip,
    stays,
    words,
)
from app.cli.common import OPERATOR_ENV, CommandLine, Handler, common_options
from app.errors import WiCounterError

DESCRIPTION = """工伤联网结算窗口：读社保卡、核验备案、伤病分离、出院结算、打印结算单、月度结算。
wi-counter: the work-injury insurance settlement counter of a hospital."""

EPILOG = """不带子命令时打开收费窗口（同 gui）。 Without a subcommand, opens the counter window (same as gui).
环境变量 / environment: WI_COUNTER_HOME（全部文件放在此文件夹 / keep all files under this folder），
WI_COUNTER_DB_URL（数据库地址 / database URL）。"""


def _register_gui(cli: CommandLine) -> None:
    cli.command("gui", "打开收费窗口（默认） / open the counter window (default)", _run_gui)


# Every command, in the order `wi-counter --help` lists them: one registrar per area (two for an area
# whose commands sit at two places in the list).
REGISTRARS: tuple[Callable[[CommandLine], None], ...] = (
    _register_gui, cases.register, admin.register_db, config.register, operators.register, card.register,
    centre.register, stays.register, admission.register, rehab.register, slip.register, charges.register,
    claims.register, preaudit.register_month, calendar.register, admin.register_audit, doctor.register,
    preaudit.register, dayend.register,
)


def build_parser() -> argparse.ArgumentParser:
    words.install()  # before any parser exists: the help texts of -h and --version are made with it
    parser = argparse.ArgumentParser(
        prog="wi-counter", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wi-counter {__version__}")
    common_options(parser, suppress=False)
    cli = CommandLine(parser.add_subparsers(dest="command", metavar="COMMAND", title="子命令 / commands"))
    for register in REGISTRARS:
        register(cli)
    return parser


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
