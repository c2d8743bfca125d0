"""《广东省工伤保险联网结算单》 — the Guangdong slip, laid out as the official sample (`003 附表3`).

Top to bottom: the print's mark and whose copy it is; the title; the header (医疗机构名称,
机构所在地, 医院等级, 就医登记号, 金额单位：元); the person and stay grid; the money table
(four buckets × five categories, 合计, 备注 with the kind of settlement); the totals
sentence; 收款人 · 审核人 · 制单人 · 打印日期; the four printed notes; 病人（家属）签字.

One copy is an A5-landscape area (210 × 148.5 mm). On A4 both copies share a sheet,
one above the other with a cut line; on A5 landscape each copy is its own sheet
(一式两份, note 4). Everything is drawn in the embedded CJK font, so it prints alike
on every printer.
"""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKETS
from app.slips import (
    COLUMN_LABELS,
    PAPER_A4,
    PAPERS,
    ROW_LABELS,
    MarkKind,
    SlipData,
    date_text,
    money_text,
)
from printing.drawing import (
    CENTRE,
    LEFT,
    RIGHT,
    draw_boxed,
    draw_fitted_in_cell,
    draw_in_cell,
    draw_text,
    draw_watermark,
    fitting_size,
    draw_wrapped_in_cell,
    wrap,
)
from printing.fonts import cjk_font

NAME = "guangdong"
DESCRIPTION = "广东省工伤保险联网结算单（粤人社规〔2021〕32号 附表3）"

# 一式两份 (note 4): who keeps which copy.
COPIES = ("协议机构留存", "工伤职工留存")

TITLE = "广东省工伤保险联网结算单"

# The four printed notes of the sample slip, word for word (`003 附表3`).
NOTES = (
    "1.本次就诊非工伤伤情所产生的医疗（康复）费用工伤保险基金不予支付。",
    "2.表中“诊疗项目”含住院服务标准费用。",
    "3.如属于异地就医结算则在表中“备注”栏显示相关信息，省内异地就医或跨省异地就医，"
    "分别指符合条件的本省非本地参保人或外省参保人在本协议机构就医的工伤医疗费用结算。",
    "4.此表由协议机构打印，一式两份，协议机构、工伤职工各执一份。",
)

AREA_WIDTH = 210 * mm
AREA_HEIGHT = 148.5 * mm
MARGIN = 10 * mm
CONTENT_WIDTH = AREA_WIDTH - 2 * MARGIN

# Person grid: label / value pairs; the first two cells of row 1 hold 姓名：… and 性别：….
PERSON_COLUMNS_MM = (24, 22, 16, 18, 16, 32, 18, 44)
# Money table: the row label, five categories, 合计, 备注.
MONEY_COLUMNS_MM = (40, 21, 21, 21, 21, 21, 22, 23)
GRID_TOP_MM = 30.0
ROW_MM = 6.5
HEADING_ROW_MM = 9.0

SIZE_TITLE = 15.0
SIZE_HEADER = 8.5
SIZE_GRID = 8.5
SIZE_TABLE_LABEL = 8.0
SIZE_NOTES = 7.0
SIZE_SIGN = 10.0
LINE = 0.7  # points: the form's rules


def _edges(columns_mm: tuple[int, ...]) -> list[float]:
    edges = [MARGIN]
    for width in columns_mm:
        edges.append(edges[-1] + width * mm)
    assert abs(edges[-1] - (AREA_WIDTH - MARGIN)) < 0.01, "columns must fill the content width"
    return edges


PERSON_EDGES = _edges(PERSON_COLUMNS_MM)
MONEY_EDGES = _edges(MONEY_COLUMNS_MM)


class _Area:
    """One copy's area on the page: converts the layout's top-down millimetres to PDF points."""

    def __init__(self, canvas: Canvas, bottom: float) -> None:
        self.canvas = canvas
        self.bottom = bottom

    def y(self, from_top_mm: float) -> float:
        return self.bottom + AREA_HEIGHT - from_top_mm * mm


def _draw_copy(canvas: Canvas, area: _Area, data: SlipData, copy_no: int, font: str) -> None:
    c = canvas
    draw_watermark(c, data.mark.watermark, AREA_WIDTH / 2, area.y(74), font, 44)

    # The print's mark (预结算 / 补打 n / 已撤销) and whose copy this is.
    mark = data.mark.label
    if data.mark.kind is MarkKind.CANCELLED and data.cancelled_on is not None:
        mark = f"{mark}（撤销日期 {date_text(data.cancelled_on)}）"
    draw_boxed(c, MARGIN + 3, area.y(8), mark, font, 9)
    copy_label = f"第{'一二'[copy_no]}联  {COPIES[copy_no]}"
    draw_text(c, AREA_WIDTH - MARGIN, area.y(8), copy_label, font, SIZE_HEADER, RIGHT, bold=True)

    draw_text(c, AREA_WIDTH / 2, area.y(16), TITLE, font, SIZE_TITLE, CENTRE, bold=True)

    # Header: each field from its left edge, shrunk if it would reach the next one.
    name, place, level, registration = data.header_fields()
    for (label, value), (left_mm, width_mm, top_mm) in zip(
        (name, place, level, registration),
        ((0, 96, 22.5), (98, 45, 22.5), (145, 45, 22.5), (0, 150, 27.5)), strict=True,
    ):
        _draw_field(c, MARGIN + left_mm * mm, area.y(top_mm), f"{label}：{value}", font, width_mm * mm)
    draw_text(c, AREA_WIDTH - MARGIN, area.y(27.5), "金额单位：元", font, SIZE_HEADER, RIGHT)

    bottom_of_grid = _draw_person_grid(c, area, data, font)
    bottom_of_table = _draw_money_table(c, area, data, font, bottom_of_grid)

    for (label, value), left_mm in zip(data.signer_fields(), (0, 45, 90, 135), strict=True):
        _draw_field(c, MARGIN + left_mm * mm, area.y(bottom_of_table + 6), f"{label}：{value}", font, 44 * mm)

    notes = "备注：" + "".join(NOTES)
    top = bottom_of_table + 11.5
    for index, line in enumerate(wrap(notes, font, SIZE_NOTES, CONTENT_WIDTH)):
        draw_text(c, MARGIN, area.y(top + index * 3.4), line, font, SIZE_NOTES)

    sign_y = area.y(131)
    draw_text(c, MARGIN, sign_y, "病人（家属）签字：", font, SIZE_SIGN)
    c.setLineWidth(0.5)
    c.line(MARGIN + 33 * mm, sign_y - 1.5, MARGIN + 95 * mm, sign_y - 1.5)


def _draw_field(c: Canvas, x: float, y: float, text: str, font: str, width: float) -> None:
    draw_text(c, x, y, text, font, fitting_size(text, font, SIZE_HEADER, width))


def _draw_person_grid(c: Canvas, area: _Area, data: SlipData, font: str) -> float:
    rows = data.person_rows()
    top_mm = GRID_TOP_MM
    c.setLineWidth(LINE)
    for row_index, pairs in enumerate(rows):
        y1 = area.y(top_mm + row_index * ROW_MM)
        y0 = area.y(top_mm + (row_index + 1) * ROW_MM)
        cells: list[str] = []
        if row_index == 0:  # as in the sample: 姓名：… and 性别：… each in one cell
            (name_label, name), (sex_label, sex), *rest = pairs
            cells += [f"{name_label}：{name}", f"{sex_label}：{sex}"]
        else:
            rest = list(pairs)
        for label, value in rest:
            cells += [label, value]
        for column, text in enumerate(cells):
            x0, x1 = PERSON_EDGES[column], PERSON_EDGES[column + 1]
            c.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)
            draw_fitted_in_cell(c, text, x0, y0, x1, y1, font, SIZE_GRID)
    return top_mm + len(rows) * ROW_MM


def _draw_money_table(c: Canvas, area: _Area, data: SlipData, font: str, top_mm: float) -> float:
    edges = MONEY_EDGES
    c.setLineWidth(LINE)
    # Heading row: the split corner cell (费别 over the columns, 项目 along the rows), then the columns.
    y1, y0 = area.y(top_mm), area.y(top_mm + HEADING_ROW_MM)
    for column in range(len(edges) - 1):
        c.rect(edges[column], y0, edges[column + 1] - edges[column], y1 - y0, stroke=1, fill=0)
    c.setLineWidth(0.4)
    c.line(edges[0], y1, edges[1], y0)
    c.setLineWidth(LINE)
    draw_text(c, edges[1] - 3 * mm, y1 - 3.6 * mm, "费别", font, SIZE_TABLE_LABEL, RIGHT)
    draw_text(c, edges[0] + 3 * mm, y0 + 1.4 * mm, "项目", font, SIZE_TABLE_LABEL, LEFT)
    headings = (*COLUMN_LABELS, "合 计", "备 注")
    for column, heading in enumerate(headings, start=1):
        draw_wrapped_in_cell(c, heading, edges[column], y0, edges[column + 1], y1, font, SIZE_TABLE_LABEL)

    # Four rows of money; 备注 is one cell down the four rows.
    first_row_mm = top_mm + HEADING_ROW_MM
    for row, (bucket, label) in enumerate(zip(BUCKETS, ROW_LABELS, strict=True)):
        r1, r0 = area.y(first_row_mm + row * ROW_MM), area.y(first_row_mm + (row + 1) * ROW_MM)
        values = [money_text(data.cell(bucket, category)) for category in CATEGORIES]
        values.append(money_text(data.row_total(bucket)))
        for column in range(len(edges) - 2):
            c.rect(edges[column], r0, edges[column + 1] - edges[column], r1 - r0, stroke=1, fill=0)
        draw_in_cell(c, label, edges[0], r0, edges[1], r1, font, SIZE_TABLE_LABEL)
        for column, value in enumerate(values, start=1):
            draw_in_cell(c, value, edges[column], r0, edges[column + 1], r1, font, SIZE_GRID, RIGHT)
    remark_top = area.y(first_row_mm)
    remark_bottom = area.y(first_row_mm + len(BUCKETS) * ROW_MM)
    c.rect(edges[-2], remark_bottom, edges[-1] - edges[-2], remark_top - remark_bottom, stroke=1, fill=0)
    draw_wrapped_in_cell(c, data.settlement_kind, edges[-2], remark_bottom, edges[-1], remark_top, font, SIZE_GRID)

    # The totals sentence across the whole width.
    totals_top_mm = first_row_mm + len(BUCKETS) * ROW_MM
    t1, t0 = area.y(totals_top_mm), area.y(totals_top_mm + ROW_MM)
    c.rect(edges[0], t0, edges[-1] - edges[0], t1 - t0, stroke=1, fill=0)
    draw_in_cell(c, data.totals_sentence(), edges[0], t0, edges[-1], t1, font, SIZE_GRID, LEFT)
    return totals_top_mm + ROW_MM


def render(data: SlipData, paper: str = PAPER_A4) -> bytes:
    """The two copies of the slip as PDF bytes, on A4 (one sheet) or A5 landscape (two sheets)."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {PAPERS}")
    font = cjk_font()
    buffer = io.BytesIO()
    page_size = A4 if paper == PAPER_A4 else landscape(A5)
    canvas = Canvas(buffer, pagesize=page_size, initialFontName=font, initialFontSize=SIZE_GRID)
    canvas.setTitle(f"{TITLE} {data.registration_no}".strip())
    canvas.setAuthor(data.institution_name)
    canvas.setSubject(data.mark.label or "结算单")
    canvas.setCreator("wi-counter")
    if paper == PAPER_A4:
        top = _Area(canvas, page_size[1] - AREA_HEIGHT)
        bottom = _Area(canvas, page_size[1] - 2 * AREA_HEIGHT)
        _draw_copy(canvas, top, data, 0, font)
        _draw_copy(canvas, bottom, data, 1, font)
        _draw_cut_line(canvas, page_size[1] - AREA_HEIGHT, font)
        canvas.showPage()
    else:
        for copy_no in range(len(COPIES)):
            _draw_copy(canvas, _Area(canvas, 0), data, copy_no, font)
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
