"""住院费用清单: every charge line of a stay, for the worker to claim at the insured place after
全额垫付 (`003 §17`: the insured place reimburses by hand against the bill and its list).

A4 portrait, as many pages as the lines need (reportlab's platypus: the table's heading row
repeats on every page); the worker and the stay at the top, 合计 at the end, the institution's
stamp line, and 第 n 页 共 m 页 on each page. Embedded CJK font, as every printed document.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.receipts import ChargeListData
from app.slips import money_text
from printing.fonts import cjk_font

TITLE = "住院费用清单"
HEADINGS = ("序号", "日期", "项目编码", "项目名称", "类别", "数量", "单价", "金额（元）")
WIDTHS_MM = (11, 20, 30, 57, 18, 14, 17, 19)
MARGIN = 14 * mm


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else ""


def _number(value: Any) -> str:
    text = f"{value.normalize():f}"
    return text


class _NumberedCanvas(Canvas):
    """第 n 页 共 m 页 at the foot of every page (the total is known only at the end)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(cjk_font(), 8)
            self.drawCentredString(A4[0] / 2, 8 * mm, f"第 {self._pageNumber} 页 共 {total} 页")
            super().showPage()
        super().save()


def render(data: ChargeListData) -> bytes:
    font = cjk_font()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=12 * mm,
                                 bottomMargin=14 * mm, title=f"{TITLE} {data.admission_no}",
                                 author=data.institution_name, creator="wi-counter")
    title = ParagraphStyle("title", fontName=font, fontSize=15, leading=20, alignment=1)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    cell = ParagraphStyle("cell", fontName=font, fontSize=8, leading=10)
    discharged = _date(data.discharged_on) or "（在院）"
    story: list[Any] = [
        Paragraph(TITLE, title),
        Spacer(1, 3 * mm),
        Paragraph(f"医疗机构：{data.institution_name}　　住院号：{data.admission_no}　　"
                  f"就医登记号：{data.registration_no or '（未取得）'}", body),
        Paragraph(f"姓名：{data.name}　　性别：{data.sex}　　社会保障号：{data.social_security_no}　　"
                  f"参保地：{data.insured_place}", body),
        Paragraph(f"科别：{data.dept}　　入院日期：{_date(data.admitted_on)}　　出院日期：{discharged}　　"
                  f"明细 {len(data.lines)} 条", body),
        Spacer(1, 3 * mm),
    ]
    rows: list[list[Any]] = [list(HEADINGS)]
    for number, line in enumerate(data.lines, start=1):
        rows.append([str(number), _date(line.charged_on), line.code, Paragraph(line.name, cell), line.category,
                     _number(line.quantity), money_text(line.unit_price), money_text(line.amount)])
    rows.append(["合计", "", "", "", "", "", "", money_text(data.total)])
    table = Table(rows, colWidths=[w * mm for w in WIDTHS_MM], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
        ("ALIGN", (0, 0), (-1, 0), "CENTER"),
        ("ALIGN", (5, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("SPAN", (0, -1), (6, -1)),
        ("ALIGN", (0, -1), (6, -1), "CENTER"),
    ]))
    story += [table, Spacer(1, 6 * mm),
              Paragraph(f"打印日期：{_date(data.printed_on)}　　　　医疗机构（盖章）：", body)]
    document.build(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()
