"""The 全额垫付 receipt's PDF (`003 §17`): both copies carry the worker, the stay, the amount paid
in full, the date, and the statement that the insured place reimburses; the 费用清单 lists every
line over as many pages as needed, with the total."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from app.receipts import ChargeListData, ListedLine, ReceiptData
from printing.charge_list import render as render_charge_list
from printing.receipt import render
from tests.slip_reader import to_png

ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "receipts"

DATA = ReceiptData(
    receipt_no="QE2026120700000042", institution_name="湛江市第一人民医院", name="刘洋", sex="男",
    social_security_no="440802199001011234", insured_place="广东省湛江市", admission_no="ZY-2026-0042",
    registration_no="", dept="骨科", admitted_on=dt.date(2026, 11, 20), discharged_on=dt.date(2026, 12, 7),
    amount=Decimal("9570.00"), issued_on=dt.date(2026, 12, 7), issuer="张收款",
    fund_part=Decimal("8123.40"), personal_part=Decimal("1446.60"))


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize(("paper", "pages"), [("A4", 1), ("A5横向", 2)])
def test_the_receipt_prints_two_copies_with_what_the_insured_place_needs(tmp_path: Path, paper: str,
                                                                         pages: int) -> None:
    pdf = render(DATA, paper)
    text = _text(pdf, tmp_path)
    assert text.count("\f") == pages
    assert text.count("工伤保险医疗费用全额垫付收据") == 2
    assert "本院留存" in text and "工伤职工收执" in text
    for value in ("刘洋", "440802199001011234", "ZY-2026-0042", "骨科", "广东省湛江市", "2026年11月20日",
                  "2026年12月07日", "17 天", "人民币 9570.00 元", "QE2026120700000042", "收款人：张收款"):
        assert text.count(value) >= 2, value
    flat = "".join(text.split())
    assert flat.count("由参保地经办机构按规定零星报销给付（003§17）") == 2  # 003 §17
    assert flat.count("补登记") >= 2
    # Nothing is handed back at the window; the fund pays the hospital nothing (003 §17, 000 §34).
    assert "退还工伤保险基金支付部分" not in flat and flat.count("本院不退还任何款项") == 2
    # The settlement figures as the slip would show them, for the insured place (003 §17).
    assert flat.count("按结算单测算：工伤保险基金支付8123.40元，个人支付1446.60元") == 2
    if paper == "A4":
        to_png(tmp_path / "receipt.pdf", ARTEFACTS / "receipt-a4", dpi=60)


def test_the_charge_list_lists_every_line_over_pages_with_the_total(tmp_path: Path) -> None:
    """费用清单: what the insured place reimburses against after 全额垫付 (003 §17)."""
    lines = tuple(
        ListedLine(seq=n, charged_on=dt.date(2026, 11, 20) + dt.timedelta(days=n % 17), code=f"X{n:05d}",
                   name="头孢呋辛酯片（0.25g*12片）" if n % 2 else "换药（中）", category="药品" if n % 2 else "诊疗项目",
                   quantity=Decimal("2.0000"), unit_price=Decimal("12.3400"), amount=Decimal("24.68"))
        for n in range(1, 121))
    refund = ListedLine(seq=121, charged_on=dt.date(2026, 12, 6), code="X00001", name="头孢呋辛酯片（0.25g*12片）",
                        category="药品", quantity=Decimal("-1"), unit_price=Decimal("12.34"), amount=Decimal("-12.34"))
    data = ChargeListData(
        institution_name=DATA.institution_name, name=DATA.name, sex=DATA.sex,
        social_security_no=DATA.social_security_no, insured_place=DATA.insured_place,
        admission_no=DATA.admission_no, registration_no="", dept=DATA.dept, admitted_on=DATA.admitted_on,
        discharged_on=DATA.discharged_on, lines=(*lines, refund), printed_on=dt.date(2026, 12, 7))
    assert data.total == Decimal("2949.26")
    text = _text(render_charge_list(data), tmp_path)
    pages = text.split("\f")[:-1]
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        flat = "".join(page.split())  # pdftotext drops the spaces between Chinese words
        assert "项目名称" in flat and f"第{number}页共{len(pages)}页" in flat  # headings on every page
    assert "住院费用清单" in pages[0] and "刘洋" in pages[0] and "440802199001011234" in pages[0]
    assert "X00120" in text and "-12.34" in text
    assert "合计" in pages[-1] and "2949.26" in pages[-1]
    to_png(tmp_path / "receipt.pdf", ARTEFACTS / "charge-list", dpi=60)
