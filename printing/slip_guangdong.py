"""《广东省工伤保险联网结算单》 — the Guangdong slip, laid out as the official sample (`003 附表3`).

Top to bottom: the print's mark and whose copy it is; the title; the header (医疗机构名称,
机构所在地, 医院等级, 就医登记号, 金额单位：元); the person and stay grid; the money table
(four buckets × five categories, 合计, 备注 with the kind of settlement); the totals
sentence; 收款人 · 审核人 · 制单人 · 打印日期; the four printed notes; 病人（家属）签字.

One copy is an A5-landscape area (210 × 148.5 mm). On A4 both copies share a sheet,
one above the other with a cut line; on A5 landscape each copy is its own sheet
(一式两份, note 4); the area, marks, money table and copies are `printing.slip_layout`'s.
This is the 省内 layout: the Jilin slip (`printing.slip_jilin`) is the same form with its
own title and 备注 (`render_form`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.slips import PAPER_A4, SlipData
from printing.drawing import CENTRE, LEFT, RIGHT, draw_in_cell, draw_text
from printing.slip_layout import (
    AREA_WIDTH,
    LINE,
    MARGIN,
    ROW_MM,
    SIZE_GRID,
    SIZE_HEADER,
    SIZE_TITLE,
    Area,
    draw_cell,
    draw_field,
    draw_marks,
    draw_money_table,
    draw_notes,
    draw_signature,
    draw_signers,
    edges,
    render_copies,
)

NAME = "guangdong"
DESCRIPTION = "广东省工伤保险联网结算单（粤人社规〔2021〕32号 附表3）"

TITLE = "广东省工伤保险联网结算单"

# The four printed notes of the sample slip, word for word (`003 附表3`).
NOTES = (
    "1.本次就诊非工伤伤情所产生的医疗（康复）费用工伤保险基金不予支付。",
    "2.表中“诊疗项目”含住院服务标准费用。",
    "3.如属于异地就医结算则在表中“备注”栏显示相关信息，省内异地就医或跨省异地就医，"
    "分别指符合条件的本省非本地参保人或外省参保人在本协议机构就医的工伤医疗费用结算。",
    "4.此表由协议机构打印，一式两份，协议机构、工伤职工各执一份。",
)


@dataclass(frozen=True)
class Form:
    """What differs between the slips of this layout: the title and the printed notes (备注)."""

    title: str
    notes: Sequence[str]


GUANGDONG = Form(TITLE, NOTES)

# Person grid: label / value pairs; the first two cells of row 1 hold 姓名：… and 性别：….
PERSON_COLUMNS_MM = (24, 22, 16, 18, 16, 32, 18, 44)
# Money table: the row label, five categories, 合计, 备注.
MONEY_COLUMNS_MM = (40, 21, 21, 21, 21, 21, 22, 23)
GRID_TOP_MM = 30.0

PERSON_EDGES = edges(PERSON_COLUMNS_MM)
MONEY_EDGES = edges(MONEY_COLUMNS_MM)


def _draw_copy(form: Form, c: Canvas, area: Area, data: SlipData, copy_no: int, font: str) -> None:
    draw_marks(c, area, data, copy_no, font)
    draw_text(c, AREA_WIDTH / 2, area.y(16), form.title, font, SIZE_TITLE, CENTRE, bold=True)

    # Header: each field from its left edge, shrunk if it would reach the next one.
    name, place, level, registration = data.header_fields()
    for (label, value), (left_mm, width_mm, top_mm) in zip(
        (name, place, level, registration),
        ((0, 96, 22.5), (98, 45, 22.5), (145, 45, 22.5), (0, 150, 27.5)), strict=True,
    ):
        draw_field(c, MARGIN + left_mm * mm, area.y(top_mm), f"{label}：{value}", font, width_mm * mm)
    draw_text(c, AREA_WIDTH - MARGIN, area.y(27.5), "金额单位：元", font, SIZE_HEADER, RIGHT)

    bottom_of_grid = _draw_person_grid(c, area, data, font)
    bottom_of_table = _draw_totals(c, area, data, font, draw_money_table(
        c, area, data, font, bottom_of_grid, MONEY_EDGES, remark=True))

    draw_signers(c, area, data, font, bottom_of_table + 6)
    draw_notes(c, area, form.notes, font, bottom_of_table + 11.5)
    draw_signature(c, area, font, 131)


def _draw_person_grid(c: Canvas, area: Area, data: SlipData, font: str) -> float:
    rows = data.person_rows()
    top_mm = GRID_TOP_MM
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
            draw_cell(c, text, PERSON_EDGES[column], y0, PERSON_EDGES[column + 1], y1, font)
    return top_mm + len(rows) * ROW_MM


def _draw_totals(c: Canvas, area: Area, data: SlipData, font: str, top_mm: float) -> float:
    """The totals sentence across the whole width, under the money table."""
    t1, t0 = area.y(top_mm), area.y(top_mm + ROW_MM)
    c.setLineWidth(LINE)
    c.rect(MONEY_EDGES[0], t0, MONEY_EDGES[-1] - MONEY_EDGES[0], t1 - t0, stroke=1, fill=0)
    draw_in_cell(c, data.totals_sentence(), MONEY_EDGES[0], t0, MONEY_EDGES[-1], t1, font, SIZE_GRID, LEFT)
    return top_mm + ROW_MM


def render_form(form: Form, data: SlipData, paper: str = PAPER_A4) -> bytes:
    """The two copies of a slip of this layout with `form`'s title and notes."""
    return render_copies(data, paper, form.title,
                         lambda c, area, slip, copy_no, font: _draw_copy(form, c, area, slip, copy_no, font))


def render(data: SlipData, paper: str = PAPER_A4) -> bytes:
    """The two copies of the slip as PDF bytes, on A4 (one sheet) or A5 landscape (two sheets)."""
    return render_form(GUANGDONG, data, paper)
