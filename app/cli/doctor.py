"""`wi-counter doctor [--json]`: what a hospital's IT person runs on a new counter (issue 24 §5).

`app.doctor` runs the checks; the reader, the printers and the test page are the outer layers'
(`devices.cli`, `ui.printer_check`, `printing.test_page`), imported here lazily and handed in.
"""

from __future__ import annotations

import argparse

from app.cli.common import CommandLine, print_json


def register(cli: CommandLine) -> None:
    doctor = cli.command("doctor", "检查本机能否开始收费（读卡器、中心、数据库、密钥、打印机…） / check this counter", _doctor)
    doctor.add_argument("--json", action="store_true", help="以 JSON 输出 / output JSON")


def _doctor(args: argparse.Namespace) -> int:
    """What a hospital's IT person runs on a new counter (issue 24 §5): one line per check."""
    from app import doctor
    from app.doctor import Level

    paths, settings = _paths_and_settings(args)
    findings = doctor.run(doctor.standard_checks(paths, settings, args.db, _outer_probes()))
    if args.json:
        print_json([finding.as_json() for finding in findings])
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
