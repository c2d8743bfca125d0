"""Each region prints its own slip (issue 23 §12): Beijing and the national pilot the
工伤保险跨省异地就医费用结算单 (`001 §35`, laid out after `004 附件6`), never Guangdong's 附表3;
Jilin the 省内 layout with its own title and 备注; Guangdong's slip as before.

The slips come from the real command (`wi-counter settle CASE.json --json --slip OUT.pdf`) and from
stored settlements, and are read back with pdfplumber cell by cell: every figure must equal the
settle JSON, every field the case file (ages and words hand-derived below, not from the code).
Rendered pages go to `test-artifacts/slips/` as PNG for a person to look at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import Operator, Role
from app.rules.case import read_case_file
from app.rules.profiles import load_profile, profile_names
from app.rules.settlement import compute
from app.slips import MarkKind, SlipData, SlipError, SlipMark, prepare_slip, slip_from_case
from printing.templates import TEMPLATES, render_slip
from tests import factories
from tests.signed_in import signed_in
from tests.slip_reader import Copy, pdf_fonts, read_slip, to_png

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases"
ARTEFACTS = REPO / "test-artifacts" / "slips"
PRINT_DATE = dt.date(2024, 7, 1)

CROSS_TITLE = "工伤保险跨省异地就医费用结算单"  # 001 §35
GUANGDONG_TITLE = "广东省工伤保险联网结算单"  # 003 附表3
JILIN_TITLE = "工伤保险省内异地就医费用结算单"

BUCKET_ROWS = {"fund": "工伤保险基金支付金额", "over_limit": "超限价自付金额", "self_pay": "自费金额",
               "non_injury": "其他（非工伤伤情费用）"}
CATEGORY_COLUMNS = {"drug": "药品费用", "treatment": "诊疗项目费用", "consumable": "医用耗材费用",
                    "rehab": "康复服务项目费用", "device": "辅助器具费用"}

# What 附件6's fields read for each case, derived by hand from the case file:
# 年龄 = completed years on the admission day from the ID's birth date; 入院方式 from the emergency mark
# (急诊) or a referral filing (其他医疗机构转入), else 门诊; 就医地 = the institution's place, a
# municipality once (北京市, issue 23 §15); 主要诊断 the first the stay lists, 次要诊断 the others.
FIELDS = {
    "beijing-cross-slip": {
        "患者姓名": "赵某某", "性别": "男", "年龄": "38", "社会保障号码": "130602198505123518",
        "参保地": "河北省保定市", "险种类型": "工伤保险", "就医地": "北京市", "医院名称": "北京积水潭医院",
        "医院等级": "三级甲等", "入院方式": "门诊", "住院号": "2024030400213", "出院科室": "创伤骨科",
        "主要诊断": "胫骨干骨折", "次要诊断": "原发性高血压", "入院日期": "20240304", "出院日期": "20240312",
        "住院天数": "8", "结算日期": "20240312",
    },
    "national-cross-slip": {
        "患者姓名": "王某某", "性别": "女", "年龄": "44", "社会保障号码": "620102197911204422",
        "参保地": "甘肃省兰州市", "险种类型": "工伤保险", "就医地": "宁夏回族自治区银川市",
        "医院名称": "宁夏医科大学总医院", "医院等级": "三级甲等", "入院方式": "急诊", "住院号": "K2024061000031",
        "出院科室": "康复医学科", "主要诊断": "腰椎骨折", "次要诊断": "2型糖尿病", "入院日期": "20240610",
        "出院日期": "20240622", "住院天数": "12", "结算日期": "20240624",
    },
}
REGISTRATION = {"beijing-cross-slip": "ZY11010020240304000017", "national-cross-slip": "ZY64010020240610000003"}
CROSS_CASES = list(FIELDS)


def _artefact(pdf: bytes, label: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{label}.pdf"
    path.write_bytes(pdf)
    for old in ARTEFACTS.glob(f"{label}-*.png"):
        old.unlink()
    to_png(path, ARTEFACTS / label)


def _settle_with_slip(case: Path, out: Path, *extra: str) -> dict[str, Any]:
    """The real command, as a clerk or support runs it; returns its --json settlement."""
    result = subprocess.run(
        [sys.executable, "-m", "app", "settle", str(case), "--json", "--slip", str(out), *extra], cwd=REPO,
        capture_output=True, text=True, encoding="utf-8", timeout=120,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _text(copy: Copy) -> str:
    return "".join(copy.lines()).replace(" ", "")


def _check_cross_copy(copy: Copy, fields: dict[str, str], registration: str, settled: dict[str, Any]) -> None:
    """One copy of the cross-province slip against the case's fields and the settle JSON's figures."""
    text = _text(copy)
    assert CROSS_TITLE in text and GUANGDONG_TITLE not in text and "附表3" not in text
    # Above the grid: the title, 就医登记号 and the unit of 附件6.
    title_top = copy.line_top(CROSS_TITLE)
    for fragment in (f"就医登记号：{registration}", "单位：元（保留两位小数）"):
        assert title_top < copy.line_top(fragment) < copy.grid_top, fragment

    # 附件6's fields, each label with its value in the cell to its right.
    for label, value in fields.items():
        assert copy.text_in(copy.right_of(copy.cell_with(label))) == value, label

    # 总费用, 基金支付合计, 个人现金支付 and the fund line as the centre names it: the settle JSON's figures.
    assert copy.text_in(copy.right_of(copy.cell_with("总费用"))) == settled["total"]
    assert copy.text_in(copy.right_of(copy.cell_with("基金支付合计"))) == settled["fund_total"]
    assert copy.text_in(copy.right_of(copy.cell_with("个人现金支付"))) == settled["personal_total"]
    assert copy.text_in(copy.right_of(copy.cell_with("参保地基金"))) == "工伤保险基金"
    assert copy.text_in(copy.right_of(copy.cell_with("基金支付金额"))) == settled["fund_total"]

    # The work-injury matrix: four buckets × five categories and each row's 合计, at their row and column.
    totals = copy.cell_with("合 计")
    for bucket, row_label in BUCKET_ROWS.items():
        row = copy.cell_with(row_label)
        for category, column_label in CATEGORY_COLUMNS.items():
            assert copy.text_in(copy.at(copy.cell_with(column_label), row)) == settled["matrix"][bucket][category], (
                bucket, category)
        assert copy.text_in(copy.at(totals, row)) == settled["matrix"][bucket]["total"], bucket
    assert "备注" not in {copy.text_in(cell).replace(" ", "") for cell in copy.cells}  # the title says 跨省

    # Below the table: signers, print date, the notes, the signature line.
    below = copy.grid_bottom
    for fragment in ("收款人：", "审核人：", "制单人：", "打印日期：", "病人（家属）签字："):
        assert copy.line_top(fragment) > below, fragment
    assert copy.line_top("备注：1.") > below
    for note in ("工伤保险基金不予支付", "表中“诊疗项目”含住院服务标准费用。",
                 "支付超目录或者超出限额部分的费用",  # 001 §35
                 "住院伙食补助费和因转诊转院发生的交通食宿费，不纳入跨省异地就医直接结算范围",  # 001 §30
                 "参保地基金按照参保地返回的基金款项名称打印。",  # 004 附件6 注
                 "一式两份"):
        assert note in text, note


@pytest.mark.parametrize("name", CROSS_CASES)
def test_cross_province_stays_print_the_cross_province_slip_from_the_command(name: str, tmp_path: Path) -> None:
    """`wi-counter settle CASE.json --slip OUT.pdf` for a Beijing / national-pilot case: the 001 §35 slip,
    both copies, marked as a preview, every figure equal to the settle JSON."""
    out = tmp_path / "slip.pdf"
    settled = _settle_with_slip(CASES / f"{name}.json", out)
    expected = json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["settle"]
    for key in ("total", "fund_total", "personal_total", "matrix"):
        assert settled[key] == expected[key], key  # the JSON the slip is checked against is the reviewed one
    pdf = out.read_bytes()
    _artefact(pdf, f"cross-{name}")
    slip = read_slip(pdf)
    assert slip.pages == 1 and len(slip.copies) == 2
    for copy_no, copy in enumerate(slip.copies):
        _check_cross_copy(copy, FIELDS[name], REGISTRATION[name], settled)
        assert "预结算（非正式结算单）" in copy.lines()[0]  # not a receipt: printed from a case file
        assert copy.watermark.replace(" ", "") == "预结算非正式结算单"
        assert ("第一联协议机构留存", "第二联工伤职工留存")[copy_no] in _text(copy)


def test_the_cross_province_slip_on_a5_landscape_is_one_copy_a_sheet(tmp_path: Path) -> None:
    out = tmp_path / "slip.pdf"
    settled = _settle_with_slip(CASES / "national-cross-slip.json", out, "--paper", "A5横向")
    slip = read_slip(out.read_bytes())
    assert slip.pages == 2 and all((round(w), round(h)) == (595, 420) for w, h in slip.page_sizes)
    first, second = slip.copies
    assert "协议机构留存" in _text(first) and "工伤职工留存" in _text(second)
    for copy in slip.copies:
        _check_cross_copy(copy, FIELDS["national-cross-slip"], REGISTRATION["national-cross-slip"], settled)


def test_the_cross_province_slip_embeds_its_font(tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    _settle_with_slip(CASES / "beijing-cross-slip.json", path)
    fonts = pdf_fonts(path)
    assert fonts
    for font in fonts:
        assert font.embedded and font.subset and font.unicode, font
        assert "WenQuanYiMicroHei" in font.name, font
    assert path.stat().st_size < 200_000


def _preview(name: str) -> SlipData:
    case = read_case_file(CASES / f"{name}.json")
    return slip_from_case(case, compute(case), PRINT_DATE)


def _settle_json(name: str) -> dict[str, Any]:
    return json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["settle"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("mark", "label", "watermark"), [
    (SlipMark(MarkKind.REPRINT, 2), "补打（第 2 次）", ""),
    (SlipMark(MarkKind.CANCELLED, 1), "已撤销", "已撤销"),
])
def test_reprint_and_cancelled_marks_on_both_copies(mark: SlipMark, label: str, watermark: str) -> None:
    data = dataclasses.replace(_preview("beijing-cross-slip"), mark=mark, settlement_id=7)
    pdf = render_slip(data)
    _artefact(pdf, f"cross-mark-{mark.kind.value}")
    for copy in read_slip(pdf).copies:
        assert label in copy.lines()[0], copy.lines()[:2]
        assert copy.watermark.replace(" ", "") == watermark
        _check_cross_copy(copy, FIELDS["beijing-cross-slip"], REGISTRATION["beijing-cross-slip"],
                          _settle_json("beijing-cross-slip"))


def test_an_original_cross_province_slip_carries_no_mark_and_names_its_signers() -> None:
    data = dataclasses.replace(_preview("national-cross-slip"), mark=SlipMark(MarkKind.ORIGINAL), settlement_id=7,
                               payee="张收款", reviewer="李审核", issuer="王制单")
    for copy in read_slip(render_slip(data)).copies:
        text = _text(copy)
        assert "预结算" not in text and "补打" not in text and "已撤销" not in text and copy.watermark == ""
        assert copy.line_top("收款人：张收款") == copy.line_top("审核人：李审核") == copy.line_top("制单人：王制单")


def test_fund_lines_print_as_the_centre_names_them_and_must_add_up() -> None:
    """`004 附件6`: each fund under the name the insured place returns; a slip whose lines do not add up
    to the fund's part is refused, never printed."""
    base = _preview("beijing-cross-slip")  # fund part 3908.00
    data = dataclasses.replace(base, fund_lines=(("工伤保险统筹基金", Decimal("3908.00")),))
    copy = read_slip(render_slip(data)).copies[0]
    assert copy.text_in(copy.right_of(copy.cell_with("参保地基金"))) == "工伤保险统筹基金"
    assert copy.text_in(copy.right_of(copy.cell_with("基金支付金额"))) == "3908.00"
    with pytest.raises(SlipError, match="不符"):
        dataclasses.replace(base, fund_lines=(("工伤保险统筹基金", Decimal("3900.00")),))


def test_long_values_stay_inside_their_cells() -> None:
    data = dataclasses.replace(
        _preview("national-cross-slip"), institution_name="宁夏回族自治区人民医院西夏分院（宁夏医科大学附属康复医院）",
        insured_place="新疆维吾尔自治区伊犁哈萨克自治州", treatment_place="宁夏回族自治区石嘴山市",
        main_diagnosis="第一腰椎椎体爆裂性骨折伴不完全性脊髓损伤", other_diagnoses="2型糖尿病、原发性高血压3级、高脂血症",
        dept="脊柱外科与康复医学科联合病区")
    pdf = render_slip(data)
    _artefact(pdf, "cross-long-values")
    copy = read_slip(pdf).copies[0]
    for label, value in (("医院名称", data.institution_name), ("参保地", data.insured_place),
                         ("就医地", data.treatment_place), ("主要诊断", data.main_diagnosis),
                         ("次要诊断", data.other_diagnoses), ("出院科室", data.dept)):
        assert copy.text_in(copy.right_of(copy.cell_with(label))) == value, label


# --- Jilin and Guangdong --------------------------------------------------------------------


def test_jilin_keeps_the_intra_province_layout_with_its_own_notes(tmp_path: Path) -> None:
    """Jilin: the 省内 form (grid, money table, 备注 省内异地就医) under Jilin's words — no Guangdong
    title or 粤 note; the fund's exclusions as 002 §19 / 经办规程 §20 word them."""
    out = tmp_path / "slip.pdf"
    settled = _settle_with_slip(CASES / "jilin-emergency-backfiled.json", out)
    pdf = out.read_bytes()
    _artefact(pdf, "jilin-emergency-backfiled")
    for copy in read_slip(pdf).copies:
        text = _text(copy)
        assert JILIN_TITLE in text and "广东" not in text and "跨省" not in text
        assert copy.line_top(JILIN_TITLE) < copy.grid_top
        remark, heading = copy.cell_with("省内异地就医"), copy.cell_with("备 注")
        assert abs(remark[0] - heading[0]) < 1 and abs(remark[2] - heading[2]) < 1  # the 备注 column
        for bucket, row_label in BUCKET_ROWS.items():
            row = copy.cell_with(row_label)
            for category, column_label in CATEGORY_COLUMNS.items():
                assert copy.text_in(copy.at(copy.cell_with(column_label), row)) == settled["matrix"][bucket][category]
        assert copy.cell_with(f"合计本次：总费用 {settled['total']} 元，工伤保险基金支付金额 {settled['fund_total']} 元，"
                              f"个人支付金额 {settled['personal_total']} 元")
        assert copy.text_in(copy.right_of(copy.cell_with("人员类别"))) == "在职"
        assert "备注：1.治疗非工伤所发生的费用，就医中发生的超标准超目录范围和不符合诊疗常规的费用，工伤保险基金不予支付。" in text
        assert "超出目录规定范围及支付限额的费用，工伤保险基金不予支付。" in text  # 002 经办规程 §20
        assert "此表由协议机构打印，一式两份" in text


def test_guangdong_cases_still_print_the_guangdong_slip(tmp_path: Path) -> None:
    """The Guangdong profile's slip is 附表3 as before: the template named by the profile renders the
    same pages as the Guangdong template named outright."""
    out = tmp_path / "slip.pdf"
    _settle_with_slip(CASES / "guangdong-sample-slip.json", out)
    copy = read_slip(out.read_bytes()).copies[0]
    assert GUANGDONG_TITLE in _text(copy) and CROSS_TITLE not in _text(copy)
    data = _preview("guangdong-sample-slip")
    by_profile, named = tmp_path / "profile.pdf", tmp_path / "named.pdf"
    by_profile.write_bytes(render_slip(data))
    named.write_bytes(render_slip(data, "guangdong"))
    pictures = [to_png(path, tmp_path / path.stem, dpi=60) for path in (by_profile, named)]
    assert [p.read_bytes() for p in pictures[0]] == [p.read_bytes() for p in pictures[1]]


def test_each_profile_picks_its_template() -> None:
    """The profile, not a site setting, names the form: 001 §35 for Beijing and the pilot."""
    assert {name: load_profile(name).slip_template for name in profile_names()} == {
        "beijing-cross": "cross-province", "national-cross": "cross-province", "guangdong-intra": "guangdong",
        "local": "guangdong", "jilin-intra": "jilin"}
    assert set(TEMPLATES) == {"guangdong", "jilin", "cross-province"}
    assert load_profile("beijing-cross").source_of("slip_template") == "001 §35"


# --- stored settlements (the window's 打印结算单 and `wi-counter slip`) ----------------------


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.mark.parametrize("name", CROSS_CASES)
def test_a_stored_cross_province_settlement_prints_the_cross_province_slip(session: Session, name: str) -> None:
    record = Operator(login="cashier", display_name="张收款", role=Role.CASHIER, password_hash="not-a-real-hash")
    session.add(record)
    session.flush()
    cashier = signed_in(record)
    settlement = factories.settled_case(session, CASES / f"{name}.json", operator_id=cashier.id, msgid="M0001")
    data = prepare_slip(session, settlement.id, cashier, print_date=PRINT_DATE)
    assert data.template == "cross-province" and data.mark.kind is MarkKind.ORIGINAL
    pdf = render_slip(data)
    _artefact(pdf, f"cross-stored-{name}")
    for copy in read_slip(pdf).copies:
        _check_cross_copy(copy, FIELDS[name], REGISTRATION[name], _settle_json(name))
        assert copy.line_top("收款人：张收款") == copy.line_top("制单人：张收款")
