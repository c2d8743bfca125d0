"""日结 on the command line and on paper (issue 20 §10): `wi-counter dayend` in a real process on
the demo counter (its sample settlement by 张收款), the cashier's own report only, and the PDF's
text as pdftotext reads it (title, people, figures to the fen, the signature lines)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from app.db.models import Settlement
from app.demo import DEMO_PASSWORD
from app.workflow.dayend import DayEndReport
from printing.dayend import render

REPO = Path(__file__).resolve().parents[1]
ARTEFACTS = REPO / "test-artifacts" / "dayend"


def _run(home: Path, *args: str, password: str = DEMO_PASSWORD) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WI_COUNTER_HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "app", "dayend", "--demo", "--password-stdin", *args], cwd=REPO,
                          env=env, input=password + "\n", capture_output=True, text=True, timeout=120)


def _demo_settlement(home: Path) -> tuple[dt.date, Decimal, Decimal]:
    from app.bootstrap import open_counter

    context = open_counter(home=home, demo=True)
    try:
        with context.transaction() as session:
            settlement = session.scalars(select(Settlement)).one()
            return settlement.settled_at.astimezone().date(), settlement.personal_total, settlement.total
    finally:
        context.close()


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_cashier_prints_their_day_end_and_the_pdf_reads_the_same(tmp_path: Path) -> None:
    home = tmp_path / "home"
    day, personal, total = _demo_settlement(home)
    pdf = tmp_path / "日结.pdf"

    done = _run(home, "--operator", "cashier", "--date", day.isoformat(), "--pdf", str(pdf))

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "收款员日结单" in out and "张收款（cashier）" in out and day.isoformat() in out
    [settled] = [line for line in out.splitlines() if "联网结算（收取个人支付）" in line]
    assert settled.split()[-2:] == ["1", f"{personal:,.2f}"]
    [cash] = [line for line in out.splitlines() if "应交现金合计" in line]
    assert cash.split()[-1] == f"{personal:,.2f}"
    text = _pdf_text(pdf)
    assert text.count("\f") == 1
    for expected in ("收款员日结单", "收款员：张收款（cashier）", f"{day.year}年{day.month:02d}月{day.day:02d}日",
                     "收款员签字：", "财务签收：", "打印时间：", f"{total:,.2f}"):
        assert expected in text, expected
    [cash_line] = [line for line in text.splitlines() if "应交现金合计" in line]
    assert cash_line.split()[-1] == f"{personal:,.2f}"

    # Another day: nothing.
    other = _run(home, "--operator", "cashier", "--date", (day - dt.timedelta(days=1)).isoformat())
    assert other.returncode == 0, other.stderr
    [cash] = [line for line in other.stdout.splitlines() if "应交现金合计" in line]
    assert cash.split()[-1] == "0.00"


def test_a_cashier_is_refused_anothers_report_and_a_reviewer_is_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    day, personal, _ = _demo_settlement(home)

    refused = _run(home, "--operator", "cashier", "--cashier", "reviewer", "--date", day.isoformat())
    assert refused.returncode == 1
    assert "只能查看本人的日结单" in refused.stderr and "Traceback" not in refused.stderr

    seen = _run(home, "--operator", "reviewer", "--cashier", "cashier", "--date", day.isoformat())
    assert seen.returncode == 0, seen.stderr
    assert "张收款（cashier）" in seen.stdout
    wrong = _run(home, "--operator", "cashier", "--date", "2026-13-01")
    assert wrong.returncode == 1 and "无法识别" in wrong.stderr


def test_the_pdf_lays_out_every_figure(tmp_path: Path) -> None:
    report = DayEndReport(
        day=dt.date(2026, 12, 7), operator_id=3, operator_login="cashier", operator_name="张收款",
        institution_name="湛江市第一人民医院", settlement_count=12, settlement_total=Decimal("45678.90"),
        settlement_fund=Decimal("40000.00"), settlement_personal=Decimal("5678.90"), cancellation_count=1,
        cancellation_refunded=Decimal("133.00"), full_payment_count=2, full_payment_amount=Decimal("9570.00"),
        backfill_count=1, backfill_handed_back=Decimal("0.00"), reprint_count=3)
    assert report.cash_total == Decimal("15115.90")  # 5678.90 + 9570.00 − 133.00; 补登记 hands nothing back (003 §17)
    path = tmp_path / "dayend.pdf"
    path.write_bytes(render(report, "一号窗口", dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "dayend.pdf").write_bytes(path.read_bytes())
    text = _pdf_text(path)
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.split()}
    assert "湛江市第一人民医院" in text and "窗口：一号窗口" in text and "2026年12月07日" in text
    assert lines["联网结算（收取个人支付）"] == ["12", "5,678.90"]
    assert lines["全额垫付（全额收取）"] == ["2", "9,570.00"]
    assert lines["撤销结算（退还个人支付）"] == ["1", "-133.00"]
    assert lines["补登记（不退款，工伤职工回参保地报销）"] == ["1", "0.00"]
    assert "退还基金支付部分" not in text
    assert lines["结算单补打"] == ["3"]
    assert lines["应交现金合计"] == ["15,115.90"]
    assert "收款员签字：" in text and "财务签收：" in text
    assert f"打印时间：{dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC).astimezone():%Y-%m-%d %H:%M}" in text


def test_the_day_end_pdf_prints_the_audit_trails_head(tmp_path: Path) -> None:
    """Issue 22 §4: the paper handed in with the cash anchors the audit trail: its count and a short
    fingerprint of the keyed head MAC, the same the trail gives at that count. (In this process: a
    separate one would not share the test's keyring, so its head would be unsigned.)"""
    import re

    from app import audit
    from app.bootstrap import open_counter
    from app.operators import authenticate
    from app.workflow.dayend import day_end_report

    home = tmp_path / "home"
    day, _, _ = _demo_settlement(home)
    context = open_counter(home=home, demo=True)
    try:
        with context.transaction() as session:
            cashier = authenticate(session, "cashier", DEMO_PASSWORD, context.counter_name)
        with context.transaction() as session:
            report = day_end_report(session, cashier, cashier.id, day)
        pdf = tmp_path / "日结.pdf"
        pdf.write_bytes(render(report, context.counter_name))
        text = _pdf_text(pdf)
        found = re.search(r"审计链头：共 (\d+) 条记录，指纹 ([0-9A-F]{4}(?:-[0-9A-F]{4}){3})", text)
        assert found is not None, text
        count, printed = int(found.group(1)), found.group(2)
        key = audit.load_key()
        assert key is not None
        with context.transaction() as session:
            head = audit.head_anchor(session)
            assert head is not None and head[0] == count  # the head when the report was made
            mac = audit.mac_at(session, key, count)
        assert mac == head[1] and audit.fingerprint(mac) == printed
    finally:
        context.close()
