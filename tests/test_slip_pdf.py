"""The slip PDF (`003 附表3`): every label and value in its cell, the font embedded, two copies, the marks.

Expected figures come from the reviewed `.expected.json` files (and, for the official
sample, from the sample itself as `../shared/DOMAIN.md` quotes it), never from the code
under test. Each rendered slip is also written to `test-artifacts/slips/` as PDF and PNG
(pdftoppm) for a person to look at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.rules.case import read_case_file
from app.rules.settlement import compute
from app.rules.profiles import load_profile, profile_names
from app.settings import SLIP_PAPER
from app.slips import PAPERS, MarkKind, SlipData, SlipMark, slip_from_case
from printing.templates import TEMPLATES, render_slip
from tests.slip_reader import Copy, pdf_fonts, read_slip, to_png

CASES = Path(__file__).parent / "cases"
ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "slips"
PRINT_DATE = dt.date(2021, 4, 1)

BUCKET_ROWS = {"fund": "工伤保险基金支付金额", "over_limit": "超限价自付金额", "self_pay": "自费金额",
               "non_injury": "其他（非工伤伤情费用）"}
CATEGORY_COLUMNS = {"drug": "药品费用", "treatment": "诊疗项目费用", "consumable": "医用耗材费用",
                    "rehab": "康复服务项目费用", "device": "辅助器具费用"}
# 待遇类别 / 业务类别 when the centre gave none: the sample's 医疗康复住院 / 工伤住院 for a stay (`003 附表3`).
BENEFIT_BY_CARE = {"medical": "医疗康复住院", "rehab": "医疗康复住院", "device": "辅助器具配置"}
BUSINESS_BY_CARE = {"medical": "工伤住院", "rehab": "工伤住院", "device": "辅助器具配置"}
# Several settlements: the official sample (省内异地就医), devices above their payment limit
# (本地工伤结算), refunds in a cross-province stay (跨省异地就医), a Jilin intra-province stay.
SLIP_CASES = ["guangdong-sample-slip", "device-max-pay", "settle-refunds", "jilin-emergency-backfiled"]


def _case_json(name: str) -> dict[str, Any]:
    return json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))


def _expected(name: str) -> dict[str, Any]:
    return json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["settle"]


def _preview(name: str) -> SlipData:
    case = read_case_file(CASES / f"{name}.json")
    return slip_from_case(case, compute(case), PRINT_DATE)


def _render(data: SlipData, label: str, paper: str = "A4") -> bytes:
    pdf = render_slip(data, "guangdong", paper)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{label}.pdf"
    path.write_bytes(pdf)
    for old in ARTEFACTS.glob(f"{label}-*.png"):
        old.unlink()
    to_png(path, ARTEFACTS / label)
    return pdf


def _date(text: str | None) -> str:
    return text.replace("-", "") if text else ""


def _place(place: dict[str, str]) -> str:
    return place["province"] if place["province"] == place["city"] else place["province"] + place["city"]


def _check_copy(copy: Copy, document: dict[str, Any], expected: dict[str, Any]) -> None:
    institution, worker, stay = document["institution"], document["worker"], document["stay"]

    # Header, above the grid: the four fields and the unit (`003 附表3`).
    for label, value in (("医疗机构名称", institution["name"]), ("机构所在地", institution["city"]),
                         ("医院等级", institution["level"]), ("就医登记号", stay.get("registration_no") or ""),
                         ("金额单位", "元")):
        top = copy.line_top(f"{label}：{value}")
        assert copy.line_top("广东省工伤保险联网结算单") < top < copy.grid_top, label

    # The person and stay grid: each label with its value in the cell to its right.
    assert copy.cell_with(f"姓名：{worker['name']}")
    assert copy.cell_with(f"性别：{worker['sex']}")
    admitted = dt.date.fromisoformat(stay["admitted"])
    discharged = dt.date.fromisoformat(stay["discharged"])
    pairs = {
        "人员类别": worker["category"], "参保地": _place(worker["insured_place"]),
        "社会保障号": worker["id_number"], "待遇类别": BENEFIT_BY_CARE[stay["care"]],
        "业务类别": BUSINESS_BY_CARE[stay["care"]],
        "结算时间": _date(stay["settled"]), "科别": stay["dept"], "住院号": stay["admission_no"],
        "住院时间": _date(stay["admitted"]), "出院时间": _date(stay["discharged"]),
        "住院天数": str(max(1, (discharged - admitted).days)),
    }
    for label, value in pairs.items():
        assert copy.text_in(copy.right_of(copy.cell_with(label))) == value, label

    # The money table: all 4 × 5 figures and the row totals, at their row and column.
    totals_column = copy.cell_with("合 计")
    for bucket, row_label in BUCKET_ROWS.items():
        row = copy.cell_with(row_label)
        for category, column_label in CATEGORY_COLUMNS.items():
            cell = copy.at(copy.cell_with(column_label), row)
            assert copy.text_in(cell) == expected["matrix"][bucket][category], (bucket, category)
        assert copy.text_in(copy.at(totals_column, row)) == expected["matrix"][bucket]["total"], bucket

    # 备注: one cell down the four money rows, naming the kind of settlement (`003 附表3` note 3).
    remark = copy.cell_with(expected["settlement_kind"])
    heading = copy.cell_with("备 注")
    first, last = copy.cell_with(BUCKET_ROWS["fund"]), copy.cell_with(BUCKET_ROWS["non_injury"])
    assert abs(remark[0] - heading[0]) < 1 and abs(remark[2] - heading[2]) < 1
    assert abs(remark[1] - first[1]) < 1 and abs(remark[3] - last[3]) < 1

    sentence = (f"合计本次：总费用 {expected['total']} 元，工伤保险基金支付金额 {expected['fund_total']} 元，"
                f"个人支付金额 {expected['personal_total']} 元")
    totals_row = copy.cell_with(sentence)
    assert totals_row[1] >= last[3] - 1  # below the money rows

    # Signers, print date, the four notes and the signature line, below the table.
    below = copy.grid_bottom
    for fragment in ("收款人：", "审核人：", "制单人：", "打印日期：2021 年 4 月 1 日", "病人（家属）签字："):
        assert copy.line_top(fragment) > below, fragment
    notes = "".join(copy.lines())
    for note in ("1.本次就诊非工伤伤情所产生的医疗（康复）费用工伤保险基金不予支付。",
                 "2.表中“诊疗项目”含住院服务标准费用。",
                 "4.此表由协议机构打印，一式两份，协议机构、工伤职工各执一份。"):
        assert note in notes
    assert "省内异地就医或跨省异地就医，分别指符合条件的本省非本地参保人或外省参保人" in notes


@pytest.mark.parametrize("name", SLIP_CASES)
def test_every_label_and_value_sits_in_its_cell(name: str) -> None:
    document, expected = _case_json(name), _expected(name)
    slip = read_slip(_render(_preview(name), f"preview-{name}"))
    assert len(slip.copies) == 2
    for copy in slip.copies:
        _check_copy(copy, document, expected)


def test_the_official_sample_figures_to_the_fen() -> None:
    """`003 附表3`: fund 5884.00 + 4396.00 + 12003.00 = 22283.00, over-limit 100.00 (诊疗),
    self-pay 265.00 + 1036.00 = 1301.00, non-injury 200.00 + 300.00 = 500.00, total 24184.00."""
    copy = read_slip(_render(_preview("guangdong-sample-slip"), "sample-figures")).copies[0]
    rows = {b: copy.cell_with(label) for b, label in BUCKET_ROWS.items()}
    columns = {c: copy.cell_with(label) for c, label in CATEGORY_COLUMNS.items()}
    columns["total"] = copy.cell_with("合 计")
    sample = {
        "fund": ("5884.00", "4396.00", "12003.00", "0.00", "0.00", "22283.00"),
        "over_limit": ("0.00", "100.00", "0.00", "0.00", "0.00", "100.00"),
        "self_pay": ("265.00", "1036.00", "0.00", "0.00", "0.00", "1301.00"),
        "non_injury": ("200.00", "300.00", "0.00", "0.00", "0.00", "500.00"),
    }
    for bucket, figures in sample.items():
        printed = tuple(copy.text_in(copy.at(columns[c], rows[bucket]))
                        for c in ("drug", "treatment", "consumable", "rehab", "device", "total"))
        assert printed == figures, bucket
    copy.cell_with("合计本次：总费用 24184.00 元，工伤保险基金支付金额 22283.00 元，个人支付金额 1901.00 元")
    assert copy.text_in(copy.right_of(copy.cell_with("住院天数"))) == "50"
    assert copy.text_in(copy.right_of(copy.cell_with("住院号"))) == "016357002"
    assert copy.line_top("就医登记号：sa000d20201117000001")


def test_font_is_embedded_as_a_subset_and_nothing_else_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    path.write_bytes(render_slip(_preview("guangdong-sample-slip")))
    fonts = pdf_fonts(path)
    assert fonts, "the slip uses no font at all?"
    for font in fonts:
        assert font.embedded and font.subset and font.unicode, font
        assert "WenQuanYiMicroHei" in font.name and font.type == "TrueType", font
    # The whole 5 MB font is not copied into every slip: only the glyphs used.
    assert path.stat().st_size < 200_000


def test_the_slip_renders_without_any_font_installed(tmp_path: Path) -> None:
    """Poppler with an empty font configuration still draws every glyph: they travel in the PDF."""
    path = tmp_path / "slip.pdf"
    path.write_bytes(render_slip(_preview("guangdong-sample-slip")))
    config = tmp_path / "fonts.conf"
    config.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                      f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    environment = {"FONTCONFIG_FILE": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                            text=True, env=environment)
    assert "广东省工伤保险联网结算单" in result.stdout
    for name, env in (("no-fonts", environment), ("system-fonts", None)):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / name)],
                       check=True, env=env)
    # Same pixels with and without system fonts: nothing was substituted.
    no_fonts = (tmp_path / "no-fonts-1.png").read_bytes()
    assert no_fonts == (tmp_path / "system-fonts-1.png").read_bytes()


def test_two_copies_on_a4_one_above_the_other() -> None:
    slip = read_slip(_render(_preview("guangdong-sample-slip"), "copies-a4"))
    assert slip.pages == 1
    width, height = slip.page_sizes[0]
    assert (round(width), round(height)) == (595, 842)  # A4 portrait, in points
    top, bottom = slip.copies
    assert "第一联协议机构留存" in "".join(top.lines()).replace(" ", "")
    assert "第二联工伤职工留存" in "".join(bottom.lines()).replace(" ", "")
    assert "工伤职工留存" not in "".join(top.lines()) and "协议机构留存" not in "".join(bottom.lines())
    assert top.grid_bottom < height / 2 < bottom.grid_top  # each copy has its own full table
    assert len(top.cells) == len(bottom.cells)


def test_two_copies_on_a5_landscape_one_per_sheet() -> None:
    slip = read_slip(_render(_preview("guangdong-sample-slip"), "copies-a5", paper="A5横向"))
    assert slip.pages == 2
    assert all((round(w), round(h)) == (595, 420) for w, h in slip.page_sizes)  # A5 landscape
    first, second = slip.copies
    assert "协议机构留存" in "".join(first.lines()) and "工伤职工留存" in "".join(second.lines())
    _check_copy(second, _case_json("guangdong-sample-slip"), _expected("guangdong-sample-slip"))


@pytest.mark.parametrize(("mark", "label", "watermark"), [
    (SlipMark(MarkKind.PREVIEW), "预结算（非正式结算单）", "预结算非正式结算单"),
    (SlipMark(MarkKind.REPRINT, 2), "补打（第 2 次）", ""),
    (SlipMark(MarkKind.CANCELLED, 1), "已撤销", "已撤销"),
])
def test_marks_on_both_copies(mark: SlipMark, label: str, watermark: str) -> None:
    data = dataclasses.replace(_preview("guangdong-sample-slip"), mark=mark)
    slip = read_slip(_render(data, f"mark-{mark.kind.value}"))
    for copy in slip.copies:
        top_line = copy.lines()[0]
        assert label in top_line, copy.lines()[:2]
        assert copy.watermark.replace(" ", "") == watermark
        # The mark never hides a figure: the table still reads right.
        _check_copy(copy, _case_json("guangdong-sample-slip"), _expected("guangdong-sample-slip"))


def test_an_original_carries_no_mark() -> None:
    data = dataclasses.replace(_preview("guangdong-sample-slip"), mark=SlipMark(MarkKind.ORIGINAL),
                               payee="张收款", reviewer="李审核", issuer="王制单")
    for copy in read_slip(_render(data, "original")).copies:
        text = "".join(copy.lines())
        assert "预结算" not in text and "补打" not in text and "已撤销" not in text
        assert copy.watermark == ""
        assert copy.line_top("收款人：张收款") == copy.line_top("审核人：李审核") == copy.line_top("制单人：王制单")


def test_unknown_fields_print_blank_never_none() -> None:
    data = dataclasses.replace(_preview("guangdong-sample-slip"), registration_no="", dept="", benefit_category="",
                               business_category="", discharged_on=None)
    copy = read_slip(_render(data, "blanks")).copies[0]
    text = "".join(copy.lines())
    assert "None" not in text and "null" not in text
    assert copy.text_in(copy.right_of(copy.cell_with("科别"))) == ""
    assert copy.text_in(copy.right_of(copy.cell_with("住院天数"))) == ""
    assert copy.line_top("就医登记号：") < copy.grid_top


def test_long_values_shrink_to_stay_inside_their_cells() -> None:
    base = _preview("guangdong-sample-slip")
    matrix = {bucket: dict(row) for bucket, row in base.matrix.items()}
    matrix["fund"]["drug"] = Decimal("5884000.00")
    data = dataclasses.replace(base, institution_name="广西壮族自治区某某市第一人民医院附属康复医院",
                               insured_place="新疆维吾尔自治区伊犁哈萨克自治州", dept="手足显微外科与创面修复病区",
                               matrix=matrix)
    copy = read_slip(_render(data, "long-values")).copies[0]
    assert copy.text_in(copy.right_of(copy.cell_with("参保地"))) == "新疆维吾尔自治区伊犁哈萨克自治州"
    assert copy.text_in(copy.right_of(copy.cell_with("科别"))) == "手足显微外科与创面修复病区"
    drug = copy.at(copy.cell_with("药品费用"), copy.cell_with("工伤保险基金支付金额"))
    assert copy.text_in(drug) == "5884000.00"
    assert copy.text_in(copy.at(copy.cell_with("合 计"), copy.cell_with("工伤保险基金支付金额"))) == "5900399.00"
    assert copy.line_top("医疗机构名称：广西壮族自治区某某市第一人民医院附属康复医院") < copy.grid_top


def test_templates_registry_matches_the_profiles_and_the_paper_setting() -> None:
    """Every profile names a registered template (the profile picks the form, issue 23 §12); the paper
    setting offers exactly the papers the templates print on."""
    assert {load_profile(name).slip_template for name in profile_names()} == set(TEMPLATES)
    assert SLIP_PAPER.choices == PAPERS
