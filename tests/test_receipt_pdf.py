"""The 全额垫付 receipt's PDF (`003 §17`): both copies carry the worker, the stay, the amount paid
in full, the date, and the statement that the insured place reimburses."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from app.receipts import ReceiptData
from printing.receipt import render
from tests.slip_reader import to_png

ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "receipts"

DATA = ReceiptData(
    receipt_no="QE2026120700000042", institution_name="湛江市第一人民医院", name="刘洋", sex="男",
    social_security_no="440802199001011234", insured_place="广东省湛江市", admission_no="ZY-2026-0042",
    registration_no="", dept="骨科", admitted_on=dt.date(2026, 11, 20), discharged_on=dt.date(2026, 12, 7),
    amount=Decimal("9570.00"), issued_on=dt.date(2026, 12, 7), issuer="张收款")


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
    if paper == "A4":
        to_png(tmp_path / "receipt.pdf", ARTEFACTS / "receipt-a4", dpi=60)
