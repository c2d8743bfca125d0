"""The doctor's test page (issue 24 §5): a one-page PDF with the embedded CJK font, a ruled box
and a millimetre scale, so the IT person can print it and check the printer's margins and text."""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printing.drawing import draw_text
from printing.fonts import cjk_font

TITLE = "wi-counter 打印测试页"


def render(counter_name: str, printed_at: dt.datetime) -> bytes:
    font = cjk_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(TITLE)
    width, height = A4
    draw_text(canvas, 20 * mm, height - 30 * mm, TITLE, font, 18)
    draw_text(canvas, 20 * mm, height - 42 * mm, f"窗口：{counter_name}    时间：{printed_at:%Y-%m-%d %H:%M}", font, 11)
    draw_text(canvas, 20 * mm, height - 54 * mm, "广东省工伤保险联网结算单 · 工伤保险基金支付 · 个人支付 ¥1,234.56", font, 11)
    # The slip's printable area: a box 10 mm inside the paper's edge; a clipped side shows at once.
    canvas.setLineWidth(0.6)
    canvas.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    for millimetre in range(0, 101, 5):
        tick = 4 * mm if millimetre % 10 == 0 else 2 * mm
        x = 20 * mm + millimetre * mm
        canvas.line(x, height - 70 * mm, x, height - 70 * mm + tick)
    draw_text(canvas, 20 * mm, height - 78 * mm, "上方刻度每格 5 毫米，全长 100 毫米：打印后用尺量，应为 100 毫米", font, 10)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
