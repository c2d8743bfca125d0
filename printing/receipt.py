"""The 全额垫付 receipt (`003 §17`): the worker paid the whole stay while the centre was down.

Two copies like the slip (本院留存, 工伤职工收执), one A5-landscape area each: on A4 both share
a sheet with a cut line, on A5 landscape each is its own sheet. Each copy: the title, the
receipt number and date, the worker and the stay in a ruled grid, the amount paid in full,
the settlement figures as the slip would show them, the statement of what happens next (the
insured place reimburses the worker; 补登记 reports the stay as paid in full), the cashier
and the worker's signature. Embedded CJK font, as every printed document.
"""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.receipts import ReceiptData
from app.slips import PAPER_A4, PAPERS, money_text
from printing.drawing import CENTRE, LEFT, RIGHT, draw_in_cell, draw_text, wrap
from printing.fonts import cjk_font

TITLE = "工伤保险医疗费用全额垫付收据"
COPIES = ("本院留存", "工伤职工收执")

AREA_WIDTH = 210 * mm
AREA_HEIGHT = 148.5 * mm
MARGIN = 14 * mm
CONTENT_WIDTH = AREA_WIDTH - 2 * MARGIN
ROW = 8 * mm
COLUMNS_MM = (22, 34, 18, 32, 20, 56)  # label, value, label, value, label, value


def _date(value: dt.date | None) -> str:
    return f"{value.year}年{value.month:02d}月{value.day:02d}日" if value is not None else ""


def _rows(data: ReceiptData) -> list[tuple[str, ...]]:
    days = f"{data.stay_days} 天" if data.stay_days is not None else ""
    return [
        ("姓名", data.name, "性别", data.sex, "社会保障号", data.social_security_no),
        ("住院号", data.admission_no, "科别", data.dept, "参保地", data.insured_place),
        ("入院日期", _date(data.admitted_on), "出院日期", _date(data.discharged_on), "住院天数", days),
    ]


def _draw_copy(c: Canvas, bottom: float, data: ReceiptData, copy_no: int, font: str) -> None:
    def y(from_top_mm: float) -> float:
        return bottom + AREA_HEIGHT - from_top_mm * mm

    right = AREA_WIDTH - MARGIN
    draw_text(c, right, y(9), f"第{'一二'[copy_no]}联  {COPIES[copy_no]}", font, 9, RIGHT)
    draw_text(c, AREA_WIDTH / 2, y(18), TITLE, font, 15, CENTRE, bold=True)
    draw_text(c, MARGIN, y(27), f"医疗机构：{data.institution_name}", font, 9)
    draw_text(c, right, y(27), f"收据编号：{data.receipt_no}", font, 9, RIGHT)

    edges = [MARGIN]
    for width in COLUMNS_MM:
        edges.append(edges[-1] + width * mm)
    top = y(31)
    rows = _rows(data)
    c.setLineWidth(0.6)
    for index, row in enumerate(rows):
        y1 = top - index * ROW
        y0 = y1 - ROW
        for column, text in enumerate(row):
            c.rect(edges[column], y0, edges[column + 1] - edges[column], ROW, stroke=1, fill=0)
            draw_in_cell(c, text, edges[column], y0, edges[column + 1], y1, font, 9,
                         CENTRE if column % 2 == 0 else LEFT)
    # 就医登记号, the amount and the settlement figures as the slip would show them: one wide row each.
    figures = (f"按结算单测算：工伤保险基金支付 {money_text(data.fund_part)} 元，个人支付 "
               f"{money_text(data.personal_part)} 元（未联网结算，基金未向本院支付）"
               if data.fund_part is not None and data.personal_part is not None else "（见住院费用清单）")
    wide = (("就医登记号", data.registration_no or "（未取得：结算中心无法连接）", 9.0),
            ("全额垫付金额", f"人民币 {money_text(data.amount)} 元（本次住院医疗费用总额）", 11.0),
            ("结算费用", figures, 9.0))
    for index, (label, value, size) in enumerate(wide):
        y1 = top - (len(rows) + index) * ROW
        y0 = y1 - ROW
        c.rect(edges[0], y0, edges[1] - edges[0], ROW, stroke=1, fill=0)
        c.rect(edges[1], y0, edges[-1] - edges[1], ROW, stroke=1, fill=0)
        draw_in_cell(c, label, edges[0], y0, edges[1], y1, font, 9, CENTRE)
        draw_in_cell(c, value, edges[1], y0, edges[-1], y1, font, size, LEFT, bold=index == 1)

    text_top = top - (len(rows) + len(wide)) * ROW - 5 * mm
    size = 9.0
    for number, line in enumerate(wrap("说明：" + data.statement, font, size, CONTENT_WIDTH)):
        draw_text(c, MARGIN, text_top - number * size * 1.5, line, font, size)

    draw_text(c, MARGIN, y(126), f"收款人：{data.issuer}", font, 9.5)
    draw_text(c, AREA_WIDTH / 2 - 10 * mm, y(126), f"开具日期：{_date(data.issued_on)}", font, 9.5)
    draw_text(c, MARGIN, y(138), "工伤职工（家属）签字：", font, 9.5)
    c.setLineWidth(0.5)
    c.line(MARGIN + 38 * mm, y(138) - 1, MARGIN + 90 * mm, y(138) - 1)


def render(data: ReceiptData, paper: str = PAPER_A4) -> bytes:
    """The receipt's two copies as PDF bytes, on A4 (one sheet) or A5 landscape (two sheets)."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {PAPERS}")
    font = cjk_font()
    buffer = io.BytesIO()
    page_size = A4 if paper == PAPER_A4 else landscape(A5)
    canvas = Canvas(buffer, pagesize=page_size, initialFontName=font, initialFontSize=9)
    canvas.setTitle(f"{TITLE} {data.receipt_no}")
    canvas.setAuthor(data.institution_name)
    canvas.setCreator("wi-counter")
    if paper == PAPER_A4:
        _draw_copy(canvas, page_size[1] - AREA_HEIGHT, data, 0, font)
        _draw_copy(canvas, page_size[1] - 2 * AREA_HEIGHT, data, 1, font)
        canvas.saveState()
        canvas.setLineWidth(0.4)
        canvas.setDash(3, 3)
        canvas.line(5 * mm, page_size[1] - AREA_HEIGHT, AREA_WIDTH - 5 * mm, page_size[1] - AREA_HEIGHT)
        canvas.restoreState()
        canvas.showPage()
    else:
        for copy_no in range(len(COPIES)):
            _draw_copy(canvas, 0, data, copy_no, font)
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()
