"""工伤保险跨省异地就医费用结算单 — the slip of Beijing and the national pilot (`001 §35`).

No work-injury layout is published: the form follows the basic-insurance cross-province slip
《跨省异地就医住院结算单》 (`004 附件6`, handed over at discharge, `004 §28`) with its labels word for
word, and carries the work-injury money table of the matrix (four buckets × five categories).

Top to bottom: the print's mark and whose copy it is; the title; 就医登记号 and 单位：元（保留两位小数）;
the patient and stay grid of 附件6 (患者姓名, 性别, 年龄, 社会保障号码 | 参保地, 险种类型, 就医地 |
医院名称, 医院等级 | 入院方式, 住院号, 出院科室 | 主要诊断, 次要诊断 | 入院日期, 出院日期, 住院天数,
结算日期); 总费用, 基金支付合计, 个人现金支付; each fund line as the centre returned it (附件6's
参保地基金 rows); the bucket × category table; 收款人 · 审核人 · 制单人 · 打印日期; the printed notes;
病人（家属）签字. Two copies, marks and paper as every slip (`printing.slip_layout`).
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from app.slips import PAPER_A4, SlipData, date_text, money_text
from printing.drawing import CENTRE, RIGHT, draw_text
from printing.slip_layout import (
    AREA_WIDTH,
    MARGIN,
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

NAME = "cross-province"
DESCRIPTION = "工伤保险跨省异地就医费用结算单（京人社工发〔2024〕5号 第三十五条；版式参照人社部发〔2016〕120号 附件6）"

TITLE = "工伤保险跨省异地就医费用结算单"  # 001 §35
UNIT = "单位：元（保留两位小数）"  # 004 附件6
INSURANCE_TYPE = "工伤保险"  # 附件6's 险种类型, for this slip always work injury

# The printed notes, each from its article.
NOTES = (
    # 000 §33, 001 §15: what the fund does not pay.
    "1.本次就医非工伤伤情所产生的费用，超标准、超目录范围和不符合诊疗常规的费用，工伤保险基金不予支付。",
    # 000 §29: the treatment place's catalogues include the 住院服务标准.
    "2.表中“诊疗项目”含住院服务标准费用。",
    # 001 §35, 004 §28: the worker settles the personal part by this slip; the fund part is the institution's claim.
    "3.工伤职工按本结算单支付超目录或者超出限额部分的费用；属于工伤保险基金支付的费用，由协议机构与就医地经办机构按协议结算。",
    # 001 §30 (000 §29): not settled directly, the insured place reimburses.
    "4.住院伙食补助费和因转诊转院发生的交通食宿费，不纳入跨省异地就医直接结算范围，由参保地经办机构按照参保地政策审核报销。",
    # 004 附件6 注, and the two copies as every slip.
    "5.参保地基金按照参保地返回的基金款项名称打印。6.此表由协议机构打印，一式两份，协议机构、工伤职工各执一份。",
)

ROW = 6.0  # mm: every ruled row of this form
GRID_TOP_MM = 25.0
Cell = tuple[str, float]  # text, width in mm


def _person_rows(data: SlipData) -> list[list[Cell]]:
    """附件6's patient and stay fields, label cell then value cell; each row fills the 190 mm."""
    days = data.stay_days
    return [
        [("患者姓名", 18), (data.name, 32), ("性别", 12), (data.sex, 14), ("年龄", 12),
         ("" if data.age is None else str(data.age), 14), ("社会保障号码", 24), (data.social_security_no, 64)],
        [("参保地", 18), (data.insured_place, 58), ("险种类型", 18), (INSURANCE_TYPE, 26),
         ("就医地", 18), (data.treatment_place, 52)],
        [("医院名称", 18), (data.institution_name, 102), ("医院等级", 18), (data.hospital_level, 52)],
        [("入院方式", 18), (data.admission_way, 32), ("住院号", 18), (data.admission_no, 44),
         ("出院科室", 18), (data.dept, 60)],
        [("主要诊断", 18), (data.main_diagnosis, 77), ("次要诊断", 18), (data.other_diagnoses, 77)],
        [("入院日期", 18), (date_text(data.admitted_on), 26), ("出院日期", 18), (date_text(data.discharged_on), 26),
         ("住院天数", 18), ("" if days is None else str(days), 14), ("结算日期", 18), (date_text(data.settled_on), 52)],
    ]


def _money_rows(data: SlipData) -> list[list[Cell]]:
    """总费用, 基金支付合计, 个人现金支付; then one row per fund as the centre returned it (附件6)."""
    rows: list[list[Cell]] = [
        [("总费用", 18), (money_text(data.total), 42), ("基金支付合计", 24), (money_text(data.fund_total), 42),
         ("个人现金支付", 24), (money_text(data.personal_total), 40)],
    ]
    for name, amount in data.fund_payments():
        rows.append([("参保地基金", 18), (name, 66), ("基金支付金额", 24), (money_text(amount), 82)])
    return rows


# The bucket × category table: the row label, five categories, 合计 (no 备注 column: the title says 跨省).
MONEY_COLUMNS_MM = (42, 22, 22, 22, 22, 22, 38)
MONEY_EDGES = edges(MONEY_COLUMNS_MM)


def _draw_rows(c: Canvas, area: Area, rows: Sequence[Sequence[Cell]], font: str, top_mm: float) -> float:
    for index, row in enumerate(rows):
        y1, y0 = area.y(top_mm + index * ROW), area.y(top_mm + (index + 1) * ROW)
        x = MARGIN
        for text, width_mm in row:
            draw_cell(c, text, x, y0, x + width_mm * mm, y1, font)
            x += width_mm * mm
        assert abs(x - (AREA_WIDTH - MARGIN)) < 0.01, "a row must fill the content width"
    return top_mm + len(rows) * ROW


def _draw_copy(c: Canvas, area: Area, data: SlipData, copy_no: int, font: str) -> None:
    draw_marks(c, area, data, copy_no, font)
    draw_text(c, AREA_WIDTH / 2, area.y(16), TITLE, font, SIZE_TITLE, CENTRE, bold=True)
    draw_field(c, MARGIN, area.y(22.5), f"就医登记号：{data.registration_no}", font,
               (70 if data.notice_no else 120) * mm)
    if data.notice_no:  # a device fitting: the notice it was settled on (001 §34, §35)
        draw_field(c, MARGIN + 72 * mm, area.y(22.5), f"配置费用核付通知单号：{data.notice_no}", font, 78 * mm)
    draw_text(c, AREA_WIDTH - MARGIN, area.y(22.5), UNIT, font, SIZE_HEADER, RIGHT)

    bottom = _draw_rows(c, area, _person_rows(data), font, GRID_TOP_MM)
    bottom = _draw_rows(c, area, _money_rows(data), font, bottom + 2)
    bottom = draw_money_table(c, area, data, font, bottom + 2, MONEY_EDGES, remark=False, row_mm=ROW)

    draw_signers(c, area, data, font, bottom + 5.5)
    last_note = draw_notes(c, area, NOTES, font, bottom + 10)
    draw_signature(c, area, font, max(last_note + 7, 136))


def render(data: SlipData, paper: str = PAPER_A4) -> bytes:
    """The two copies of the slip as PDF bytes, on A4 (one sheet) or A5 landscape (two sheets)."""
    return render_copies(data, paper, TITLE, _draw_copy)
