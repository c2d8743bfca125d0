"""`wi-counter admission correct|cancel STAY_ID --reason TEXT`: 更正 / 撤销入院登记 by a reviewer.

The reviewer signs in with the password (`app.cli.common.signed_in`: `--operator LOGIN`, the
password typed without echo or `--password-stdin`), never by a login alone; the service checks the
permission, goes through the centre's outbox and audits the reason (`app.workflow.admission_correction`).
Exit 0 done, 1 refused (the reason printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from app.cli.common import CommandLine, add_operator_options, centre_client, open_context, signed_in, usage

REVIEWER_HELP = ("审核员登录名（须输入其密码，记入审计日志）；默认取环境变量 WI_COUNTER_OPERATOR / the reviewer's login "
                 "(password asked for; audited); default: $WI_COUNTER_OPERATOR")


def register(cli: CommandLine) -> None:
    cli.group("admission", "入院登记的更正与撤销（审核员） / correct or cancel a registration (a reviewer)",
              usage("wi-counter admission {correct,cancel} STAY_ID --reason TEXT"))
    correct = cli.action("admission", "correct",
                         "更正入院日期或入院诊断：经结算中心撤销原登记并按更正后的内容重新登记（新的就医登记号）"
                         " / correct the admission date or diagnoses through the centre (a new 就医登记号)", correct_command)
    correct.add_argument("stay_id", type=int, metavar="STAY_ID", help="住院登记编号（wi-counter stays） / stay id")
    correct.add_argument("--admitted", metavar="YYYY-MM-DD", help="正确的入院日期 / the right admission date")
    correct.add_argument("--diagnosis", action="append", metavar="CODE=NAME",
                         help="入院诊断（可重复，给出即替换全部入院诊断），如 S82.201=胫骨干骨折 / an admitting diagnosis "
                              "(repeat; replaces them all)")
    correct.add_argument("--reason", required=True, help="更正原因（记入审计日志） / why (audited)")
    add_operator_options(correct, REVIEWER_HELP)
    cancel = cli.action("admission", "cancel",
                        "撤销入院登记（如登记错人）：结算中心的就医登记作废，住院号可为正确的人重新登记"
                        " / cancel a registration (e.g. the wrong person)", cancel_command)
    cancel.add_argument("stay_id", type=int, metavar="STAY_ID", help="住院登记编号 / stay id")
    cancel.add_argument("--reason", required=True, help="撤销原因（记入审计日志） / why (audited)")
    add_operator_options(cancel, REVIEWER_HELP)


def _diagnoses(values: list[str] | None) -> tuple[tuple[str, str], ...] | None:
    if not values:
        return None
    rows = []
    for value in values:
        code, sep, name = value.partition("=")
        if not sep or not code.strip() or not name.strip():
            raise ValueError(f"入院诊断应写作 编码=名称（如 S82.201=胫骨干骨折），不是 {value}")
        rows.append((code.strip(), name.strip()))
    return tuple(rows)


def _run(args: argparse.Namespace, work: Callable[[Any, Any, Any], str]) -> int:
    from app.errors import WiCounterError
    from app.operators import Permission

    context = open_context(args)
    try:
        try:
            reviewer = signed_in(context, args, Permission.CORRECT_REGISTRATION, who="审核员")
            client = centre_client(context, reviewer)
            try:
                print(work(context, client, reviewer))
            finally:
                client.close()
        except WiCounterError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 1
    finally:
        context.close()
    return 0


def correct_command(args: argparse.Namespace) -> int:
    try:
        admitted = dt.date.fromisoformat(args.admitted) if args.admitted else None
        diagnoses = _diagnoses(args.diagnosis)
    except ValueError as exc:
        message = str(exc) if "入院诊断" in str(exc) else f"入院日期应写作 YYYY-MM-DD，不是 {args.admitted}"
        print(f"错误：{message} / bad input", file=sys.stderr)
        return 2
    if admitted is None and diagnoses is None:
        print("错误：请给出 --admitted 或 --diagnosis（要更正的内容） / nothing to correct", file=sys.stderr)
        return 2

    def work(context: Any, client: Any, reviewer: Any) -> str:
        from app.workflow.admission_correction import correct_registration

        outcome = correct_registration(context, client, args.stay_id, args.reason, reviewer, admitted_on=admitted,
                                       diagnoses=diagnoses)
        if outcome.offline:
            return (f"住院登记 {outcome.stay_id}：原登记 {outcome.old_registration_no} 已撤销，更正后的登记已脱机保存，"
                    "联网后自动补传 / corrected; the new registration waits for the link")
        return (f"住院登记 {outcome.stay_id} 已更正：新就医登记号 {outcome.registration_no}"
                f"（原 {outcome.old_registration_no} 已撤销） / corrected")

    return _run(args, work)


def cancel_command(args: argparse.Namespace) -> int:
    def work(context: Any, client: Any, reviewer: Any) -> str:
        from app.workflow.admission_correction import cancel_registration

        view = cancel_registration(context, client, args.stay_id, args.reason, reviewer)
        return (f"住院登记 {view.stay_id}（住院号 {view.admission_no}）的入院登记已撤销；"
                "该住院号可为正确的人重新登记 / cancelled")

    return _run(args, work)
