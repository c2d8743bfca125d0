"""What every slip template shares: the copy's area, the marks, the bucket × category table, the signers,
the printed notes, the signature line and the two copies on A4 or A5 landscape.

A slip copy is an A5-landscape area (210 × 148.5 mm). On A4 both copies share a sheet, one above
the other with a cut line; on A5 landscape each copy is its own sheet. Layouts work in millimetres
from the area's top; `Area.y` turns them into PDF points. Everything is drawn in the embedded CJK
font, so a slip prints alike on every printer.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKETS
from app.slips import COLUMN_LABELS, PAPER_A4, PAPERS, ROW_LABELS, MarkKind, SlipData, date_text, money_text
from printing.drawing import (
    CENTRE,
    LEFT,
    RIGHT,
    draw_boxed,
    draw_fitted_in_cell,
    draw_in_cell,
    draw_text,
    draw_watermark,
    draw_wrapped_in_cell,
    fitting_size,
    wrap,
)
from printing.fonts import cjk_font

AREA_WIDTH = 210 * mm
AREA_HEIGHT = 148.5 * mm
MARGIN = 10 * mm
CONTENT_WIDTH = AREA_WIDTH - 2 * MARGIN

ROW_MM = 6.5
HEADING_ROW_MM = 9.0
SIZE_TITLE = 15.0
SIZE_HEADER = 8.5
SIZE_GRID = 8.5
SIZE_TABLE_LABEL = 8.0
SIZE_NOTES = 7.0
SIZE_SIGN = 10.0
LINE = 0.7  # points: the form's rules
NOTES_LEADING_MM = 3.4

# 一式两份: who keeps which copy (`003 附表3` note 4; the cross-province slip is handed to the worker, `001 §35`).
COPIES = ("协议机构留存", "工伤职工留存")


def edges(columns_mm: Sequence[float]) -> list[float]:
    """The x of each column's left edge and of the last one's right edge; the columns fill the content width."""
    result = [MARGIN]
    for width in columns_mm:
        result.append(result[-1] + width * mm)
    assert abs(result[-1] - (AREA_WIDTH - MARGIN)) < 0.01, "columns must fill the content width"
    return result


class Area:
    """One copy's area on the page: converts the layout's top-down millimetres to PDF points."""

    def __init__(self, canvas: Canvas, bottom: float) -> None:
        self.canvas = canvas
        self.bottom = bottom

    def y(self, from_top_mm: float) -> float:
        return self.bottom + AREA_HEIGHT - from_top_mm * mm


def draw_marks(c: Canvas, area: Area, data: SlipData, copy_no: int, font: str) -> None:
    """The watermark (预结算 / 已撤销), the print's boxed mark (预结算 / 补打 n / 已撤销) and whose copy this is."""
    draw_watermark(c, data.mark.watermark, AREA_WIDTH / 2, area.y(74), font, 44)
    mark = data.mark.label
    if data.mark.kind is MarkKind.CANCELLED and data.cancelled_on is not None:
        mark = f"{mark}（撤销日期 {date_text(data.cancelled_on)}）"
    draw_boxed(c, MARGIN + 3, area.y(8), mark, font, 9)
    copy_label = f"第{'一二'[copy_no]}联  {COPIES[copy_no]}"
    draw_text(c, AREA_WIDTH - MARGIN, area.y(8), copy_label, font, SIZE_HEADER, RIGHT, bold=True)


def draw_field(c: Canvas, x: float, y: float, text: str, font: str, width: float) -> None:
    """A "label：value" line outside the grid, shrunk if it would reach the next field."""
    draw_text(c, x, y, text, font, fitting_size(text, font, SIZE_HEADER, width))


def draw_cell(c: Canvas, text: str, x0: float, y0: float, x1: float, y1: float, font: str) -> None:
    """A ruled cell with its text on one line, or two for a long place or diagnosis."""
    c.setLineWidth(LINE)
    c.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)
    draw_fitted_in_cell(c, text, x0, y0, x1, y1, font, SIZE_GRID)


def draw_money_table(c: Canvas, area: Area, data: SlipData, font: str, top_mm: float,
                     column_edges: Sequence[float], remark: bool, row_mm: float = ROW_MM) -> float:
    """The bucket × category table: a heading row (the split corner 费别 / 项目, the five categories,
    合 计 and, with `remark`, 备 注), then the four buckets' rows; with `remark` the kind of settlement
    (and a device fitting's 核付通知单号) fills one 备注 cell down the four rows. Returns the table's bottom (mm from the area's top)."""
    cols = column_edges
    c.setLineWidth(LINE)
    y1, y0 = area.y(top_mm), area.y(top_mm + HEADING_ROW_MM)
    for column in range(len(cols) - 1):
        c.rect(cols[column], y0, cols[column + 1] - cols[column], y1 - y0, stroke=1, fill=0)
    c.setLineWidth(0.4)
    c.line(cols[0], y1, cols[1], y0)
    c.setLineWidth(LINE)
    draw_text(c, cols[1] - 3 * mm, y1 - 3.6 * mm, "费别", font, SIZE_TABLE_LABEL, RIGHT)
    draw_text(c, cols[0] + 3 * mm, y0 + 1.4 * mm, "项目", font, SIZE_TABLE_LABEL, LEFT)
    headings = (*COLUMN_LABELS, "合 计", *(("备 注",) if remark else ()))
    for column, heading in enumerate(headings, start=1):
        draw_wrapped_in_cell(c, heading, cols[column], y0, cols[column + 1], y1, font, SIZE_TABLE_LABEL)

    first_row_mm = top_mm + HEADING_ROW_MM
    money_columns = len(cols) - (2 if remark else 1)
    for row, (bucket, label) in enumerate(zip(BUCKETS, ROW_LABELS, strict=True)):
        r1, r0 = area.y(first_row_mm + row * row_mm), area.y(first_row_mm + (row + 1) * row_mm)
        values = [money_text(data.cell(bucket, category)) for category in CATEGORIES]
        values.append(money_text(data.row_total(bucket)))
        for column in range(money_columns):
            c.rect(cols[column], r0, cols[column + 1] - cols[column], r1 - r0, stroke=1, fill=0)
        draw_in_cell(c, label, cols[0], r0, cols[1], r1, font, SIZE_TABLE_LABEL)
        for column, value in enumerate(values, start=1):
            draw_in_cell(c, value, cols[column], r0, cols[column + 1], r1, font, SIZE_GRID, RIGHT)
    bottom_mm = first_row_mm + len(BUCKETS) * row_mm
    if remark:
        remark_top, remark_bottom = area.y(first_row_mm), area.y(bottom_mm)
        c.rect(cols[-2], remark_bottom, cols[-1] - cols[-2], remark_top - remark_bottom, stroke=1, fill=0)
        draw_wrapped_in_cell(c, data.remark, cols[-2], remark_bottom, cols[-1], remark_top, font, SIZE_GRID,
                             max_lines=4)
    return bottom_mm


def draw_signers(c: Canvas, area: Area, data: SlipData, font: str, top_mm: float) -> None:
    """收款人 · 审核人 · 制单人 · 打印日期 on one line."""
    for (label, value), left_mm in zip(data.signer_fields(), (0, 45, 90, 135), strict=True):
        draw_field(c, MARGIN + left_mm * mm, area.y(top_mm), f"{label}：{value}", font, 44 * mm)


def draw_notes(c: Canvas, area: Area, notes: Sequence[str], font: str, top_mm: float) -> float:
    """备注：and the printed notes, wrapped to the content width. Returns the last line's baseline (mm)."""
    lines = wrap("备注：" + "".join(notes), font, SIZE_NOTES, CONTENT_WIDTH)
    for index, line in enumerate(lines):
        draw_text(c, MARGIN, area.y(top_mm + index * NOTES_LEADING_MM), line, font, SIZE_NOTES)
    return top_mm + (len(lines) - 1) * NOTES_LEADING_MM


def draw_signature(c: Canvas, area: Area, font: str, top_mm: float) -> None:
    """病人（家属）签字 and its line."""
    sign_y = area.y(top_mm)
    draw_text(c, MARGIN, sign_y, "病人（家属）签字：", font, SIZE_SIGN)
    c.setLineWidth(0.5)
    c.line(MARGIN + 33 * mm, sign_y - 1.5, MARGIN + 95 * mm, sign_y - 1.5)


DrawCopy = Callable[[Canvas, Area, SlipData, int, str], None]


def render_copies(data: SlipData, paper: str, title: str, draw_copy: DrawCopy) -> bytes:
    """Both copies as PDF bytes: on A4 one sheet (top and bottom, a cut line between), on A5 landscape
    one sheet each. `draw_copy(canvas, area, data, copy_no, font)` draws one copy."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {PAPERS}")
    font = cjk_font()
    buffer = io.BytesIO()
    page_size = A4 if paper == PAPER_A4 else landscape(A5)
    canvas = Canvas(buffer, pagesize=page_size, initialFontName=font, initialFontSize=SIZE_GRID)
    canvas.setTitle(f"{title} {data.registration_no}".strip())
    canvas.setAuthor(data.institution_name)
    canvas.setSubject(data.mark.label or "结算单")
    canvas.setCreator("wi-counter")
    if paper == PAPER_A4:
        draw_copy(canvas, Area(canvas, page_size[1] - AREA_HEIGHT), data, 0, font)
        draw_copy(canvas, Area(canvas, page_size[1] - 2 * AREA_HEIGHT), data, 1, font)
        _draw_cut_line(canvas, page_size[1] - AREA_HEIGHT, font)
        canvas.showPage()
    else:
        for copy_no in range(len(COPIES)):
            draw_copy(canvas, Area(canvas, 0), data, copy_no, font)
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_cut_line(canvas: Canvas, y: float, font: str) -> None:
    canvas.saveState()
    canvas.setLineWidth(0.4)
    canvas.setDash(3, 3)
    canvas.line(5 * mm, y, AREA_WIDTH - 5 * mm, y)
    canvas.restoreState()
    label = "沿此线裁开"
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(AREA_WIDTH / 2 - 12 * mm, y - 1, 24 * mm, 4 * mm, stroke=0, fill=1)
    canvas.restoreState()
    # Just above the line: it belongs to neither copy's form.
    draw_text(canvas, AREA_WIDTH / 2, y + 1, label, font, 7, CENTRE)
