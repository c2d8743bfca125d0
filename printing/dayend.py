"""The 收款员日结单 (issue 20 §10): one cashier's day, handed in with the cash.

One A4 portrait page: the title, the institution, the counter, the cashier and the date, the
figures in a ruled table (项目 / 笔数 / 金额（元）), the cash to hand in in bold, the signature lines
收款员签字 / 财务签收, and when it was printed. Embedded CJK font, as every printed document.
"""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.workflow.dayend import DayEndReport
from printing.drawing import CENTRE, LEFT, RIGHT, draw_in_cell, draw_text
from printing.fonts import cjk_font

TITLE = "收款员日结单"
MARGIN = 20 * mm
ROW = 9 * mm
COLUMNS_MM = (100, 25, 45)  # 项目, 笔数, 金额（元）


def _date(value: dt.date) -> str:
    return f"{value.year}年{value.month:02d}月{value.day:02d}日"


def render(report: DayEndReport, counter_name: str, printed_at: dt.datetime | None = None) -> bytes:
    """The day-end report as PDF bytes (A4 portrait, one page)."""
    font = cjk_font()
    printed_at = (printed_at or dt.datetime.now(dt.UTC)).astimezone()
    buffer = io.BytesIO()
    width, height = A4
    c = Canvas(buffer, pagesize=A4, initialFontName=font, initialFontSize=10)
    c.setTitle(f"{TITLE} {report.operator_name} {report.day.isoformat()}")
    c.setAuthor(report.institution_name)
    c.setCreator("wi-counter")

    def y(from_top_mm: float) -> float:
        return height - from_top_mm * mm

    right = width - MARGIN
    draw_text(c, width / 2, y(25), report.institution_name, font, 12, CENTRE)
    draw_text(c, width / 2, y(36), TITLE, font, 18, CENTRE, bold=True)
    draw_text(c, MARGIN, y(48), f"窗口：{counter_name}", font, 10.5)
    draw_text(c, width / 2, y(48), f"收款员：{report.operator_name}（{report.operator_login}）", font, 10.5, CENTRE)
    draw_text(c, right, y(48), f"日期：{_date(report.day)}", font, 10.5, RIGHT)

    edges = [MARGIN]
    for column_mm in COLUMNS_MM:
        edges.append(edges[-1] + column_mm * mm)
    top = y(53)
    rows = [("项目", "笔数", "金额（元）"), *report.rows()]
    c.setLineWidth(0.6)
    for index, row in enumerate(rows):
        y1 = top - index * ROW
        y0 = y1 - ROW
        heading, total = index == 0, index == len(rows) - 1
        for column, text in enumerate(row):
            c.rect(edges[column], y0, edges[column + 1] - edges[column], ROW, stroke=1, fill=0)
            align = CENTRE if heading or column == 1 else LEFT if column == 0 else RIGHT
            draw_in_cell(c, text, edges[column], y0, edges[column + 1], y1, font, 11 if total else 10, align,
                         bold=heading or total)

    note_top = top - len(rows) * ROW - 8 * mm
    notes: tuple[str, ...] = ("说明：应交现金 = 联网结算收取的个人支付 + 全额垫付收取 − 撤销结算退还（补登记不退款，003 §17）。",
             "金额按本窗口数据库记录统计（本地日期），与实收现金核对无误后签字上交。")
    if report.audit_head_text:  # anchors the audit trail on paper (issue 22 §4)
        notes = (*notes, f"{report.audit_head_text}（打印时；与“wi-counter audit verify”核对）")
    for number, line in enumerate(notes):
        draw_text(c, MARGIN, note_top - number * 6 * mm, line, font, 9)

    sign_y = note_top - 28 * mm
    c.setLineWidth(0.5)
    draw_text(c, MARGIN, sign_y, "收款员签字：", font, 11)
    c.line(MARGIN + 25 * mm, sign_y - 1, MARGIN + 75 * mm, sign_y - 1)
    draw_text(c, width / 2 + 5 * mm, sign_y, "财务签收：", font, 11)
    c.line(width / 2 + 27 * mm, sign_y - 1, right, sign_y - 1)
    draw_text(c, MARGIN, sign_y - 12 * mm, "日期：", font, 10)
    draw_text(c, width / 2 + 5 * mm, sign_y - 12 * mm, "日期：", font, 10)
    draw_text(c, right, sign_y - 30 * mm, f"打印时间：{printed_at:%Y-%m-%d %H:%M}", font, 9, RIGHT)
    c.showPage()
    c.save()
    return buffer.getvalue()
