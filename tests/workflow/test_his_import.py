"""HIS exports into a stay's charge lines (issue 6 item 2): CSV in GBK or UTF-8 and XLSX, every bad row
named with its row number and nothing imported until the file is clean, re-imports adding nothing twice,
refunds, the column mapping per hospital, permissions. Codes are matched to the catalogue (`003 §27`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ChargeCategory, ChargeSource, HisImport, Role, Stay, StayStatus
from app.errors import ConfigurationError, PermissionDenied
from app.operators import ROLE_PERMISSIONS, OperatorInfo, Permission
from app.demo import his_samples
from app.workflow.common import WorkflowError
from app.workflow.his_import import (
    ColumnMapping,
    HisFileInvalid,
    import_his_file,
    load_mapping,
    mapping_names,
    read_his_file,
)
from tests.workflow.charge_helpers import (  # noqa: F401 - fixtures
    COUNTER,
    START,
    audit_events,
    clerk,
    import_count,
    import_file,
    line_count,
    lines_of,
    mapping,
    session,
    stay,
)

HEADER = "明细流水号,项目编码,项目名称,费用类别,数量,单价,金额,费用日期,开单科室,医嘱组号,诊断编码,原明细流水号"


def write(path: Path, text: str, encoding: str = "gbk") -> Path:
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path


def problems_by_row(error: HisFileInvalid) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for problem in error.problems:
        found.setdefault(problem.row, []).append(problem.message)
    return found


# --- the path: a GBK CSV with a bad row, then the fixed file, then the same file again -------


def test_gbk_file_with_a_bad_row_is_refused_whole_then_the_fixed_file_imports_once(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path) -> None:
    good = [
        "MX001,XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,2026-11-02,骨科,YZ01,S82.201,",
        "MX002,HZ-9001,院内制剂 消肿膏,西药,2,18.50,37.00,2026-11-02,骨科,YZ01,S82.201,",
        "MX003,C0104001003,胫骨近端锁定钢板,材料,1,4800.00,4800.00,2026/11/03,骨科,YZ02,S82.201,",
    ]
    bad = "MX004,XJ01DB04,注射用头孢唑林钠,西药,3,4.80,14.41,2026-11-03,骨科,YZ02,S82.201,"
    path = write(tmp_path / "费用.csv", "\n".join([HEADER, *good, bad]) + "\n")

    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, path)
    assert [(p.row, p.column) for p in refused.value.problems] == [(5, "金额")]
    assert "14.41" in refused.value.problems[0].message and "14.40" in refused.value.problems[0].message
    assert "第 5 行" in refused.value.message and "未导入任何明细" in refused.value.message
    assert line_count(session, stay) == 0 and import_count(session, stay) == 0

    fixed = write(tmp_path / "费用.csv", "\n".join([HEADER, *good, bad.replace("14.41", "14.40")]) + "\n")
    first = import_file(session, stay, clerk, fixed)
    assert (first.rows, first.added, first.already_present, first.unmatched) == (4, 4, 0, 1)
    lines = lines_of(session, stay)
    assert [line.seq for line in lines] == [1, 2, 3, 4]
    assert [line.code for line in lines] == ["XB01AC06", None, "C0104001003", "XJ01DB04"]  # HZ-9001: unmatched
    assert lines[2].charged_on == dt.date(2026, 11, 3) and lines[2].category == ChargeCategory.CONSUMABLE
    assert lines[3].amount == Decimal("14.40") and lines[3].quantity == Decimal("3")
    assert all(line.source == ChargeSource.HIS and line.his_import_id == first.import_id for line in lines)

    again = import_file(session, stay, clerk, fixed)
    assert (again.rows, again.added, again.already_present) == (4, 0, 4)
    assert line_count(session, stay) == 4
    imports = list(session.scalars(select(HisImport).where(HisImport.stay_id == stay.id).order_by(HisImport.id)))
    assert [(i.added_count, i.row_count, i.encoding, i.file_format) for i in imports] == [
        (4, 4, "gbk", "csv"), (0, 4, "gbk", "csv")]
    events = audit_events(session, "his_import")
    assert [e.detail["added"] for e in events] == [4, 0]
    assert events[0].operator_id == clerk.id and events[0].entity_id == str(stay.id)


def test_every_bad_row_is_reported_with_its_row_number_and_reason(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path) -> None:
    rows = [
        "MX001,,阿司匹林肠溶片,西药,10,0.50,5.00,2026-11-02,骨科,,,",  # 2: missing code
        "MX002,XB01AC06,阿司匹林肠溶片,西药,十,0.50,5.00,2026-11-02,骨科,,,",  # 3: bad number
        "MX003,XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,2026-13-02,骨科,,,",  # 4: bad date
        "MX004,XB01AC06,阿司匹林肠溶片,保健品,10,0.50,5.00,2026-11-02,骨科,,,",  # 5: unknown category
        "MX001,XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,2026-11-02,骨科,,,",  # 6: duplicate line id
        "MX006,XB01AC06,阿司匹林肠溶片,西药,-1,0.50,-0.50,2026-11-02,骨科,,,",  # 7: refund naming nothing
        "MX007,XB01AC06,阿司匹林肠溶片,西药,0,0.50,0.00,2026-11-02,骨科,,,",  # 8: zero quantity
        "MX008,XB01AC06,阿司匹林肠溶片,西药,1,-0.50,-0.50,2026-11-02,骨科,,,",  # 9: negative price
        "MX009,XB01AC06,,西药,1,0.50,0.5,2026-11-02,骨科,,,",  # 10: missing name
        "MX010,XB01AC06,阿司匹林肠溶片,西药,1.00001,0.50,0.50,2026-11-02,骨科,,,",  # 11: five decimals
        "MX011,XB01AC06,阿司匹林肠溶片,西药,2,0.50,1.00,2026-11-02,骨科,,,MX002",  # 12: positive naming a line
    ]
    path = write(tmp_path / "bad.csv", "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, path)
    found = problems_by_row(refused.value)
    assert sorted(found) == list(range(2, 13))
    assert "缺少项目编码" in found[2][0]
    assert "“十”不是数字" in found[3][0]
    assert "2026-13-02" in found[4][0] and "无法识别" in found[4][0]
    assert "保健品" in found[5][0] and "西药" in found[5][0]
    assert "与第 2 行重复" in found[6][0]
    assert "原明细" in found[7][0]
    assert "数量为 0" in found[8][0]
    assert "为负" in found[9][0]
    assert "缺少项目名称" in found[10][0]
    assert "最多 4 位小数" in found[11][0]
    assert "不应填写原明细流水号" in found[12][0]
    assert "共 11 处问题" in refused.value.message
    assert line_count(session, stay) == 0 and import_count(session, stay) == 0


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "文件是空的"),
    (b"   \r\n  \r\n", "文件是空的"),
    ("项目编码,项目名称,数量,单价,费用日期\r\n".encode("gbk"), "之下没有费用明细"),
    ("项目编码,项目名称,单价,费用日期\r\nXB01AC06,阿司匹林,0.5,2026-11-02\r\n".encode("gbk"), "缺少必需的列 “数量”"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "旧版 Excel"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "不是 CSV 或 XLSX"),
    (b"\x81\x30\xff\xfe,\xff\xff\r\n", "无法识别文件编码"),
    (b"PK\x03\x04not really a zip", "无法打开 XLSX"),
    (("项目编码,项目名称,数量,单价,费用日期\r\n" + "A1,消肿膏,1,1,2026-11-02\r\n" * 400
      + "A1,消肿膏\x00,1,1,2026-11-02\r\n").encode("gbk"), "空字符"),  # past the first 8 KB: damage, not binary
])
def test_whole_file_problems_are_named(session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path,
                                       content: bytes, expected: str) -> None:
    path = tmp_path / "his.csv"
    path.write_bytes(content)
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, path)
    assert expected in refused.value.message
    assert refused.value.problems[0].row == (402 if expected == "空字符" else 0)
    assert line_count(session, stay) == 0


def test_a_zip_that_is_not_a_workbook_is_named(session: Session, stay: Stay, clerk: OperatorInfo,
                                               tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "费用.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "不是工作簿")
    with pytest.raises(HisFileInvalid, match="无法打开 XLSX"):
        import_file(session, stay, clerk, path)


def test_utf8_with_and_without_bom_and_a_title_row_and_totals_row(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path, mapping: ColumnMapping) -> None:
    body = ("湛江市第一人民医院 住院费用明细\n"
            "项目编码 , 项目名称 , 费用类别 , 数量 , 单价(元) , 金额（元） , 记账日期\n"
            "XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,20261102\n"
            "XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,20261102\n"
            "合计,,,,,10.00,\n")
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    plain = write(tmp_path / "plain.csv", body, "utf-8")
    parsed_bom = read_his_file(with_bom, mapping)
    parsed_plain = read_his_file(plain, mapping)
    assert parsed_bom.encoding == parsed_plain.encoding == "utf-8"
    assert [r.row for r in parsed_bom.rows] == [3, 4]
    # Two identical lines without a line id are two lines (content + occurrence count).
    assert parsed_bom.rows[0].fingerprint != parsed_bom.rows[1].fingerprint
    assert [r.fingerprint for r in parsed_bom.rows] == [r.fingerprint for r in parsed_plain.rows]
    first = import_his_file(session, stay.id, parsed_bom, clerk, COUNTER, "default")
    again = import_his_file(session, stay.id, parsed_plain, clerk, COUNTER, "default")
    assert (first.added, again.added, again.already_present) == (2, 0, 2)
    # A later export with the same line a third time adds just that one.
    later = write(tmp_path / "later.csv", body.replace("合计", "XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,20261102\n合计"),
                  "utf-8")
    assert import_file(session, stay, clerk, later).added == 1
    assert line_count(session, stay) == 3


def test_a_later_export_adds_only_the_new_lines(session: Session, stay: Stay, clerk: OperatorInfo,
                                                tmp_path: Path) -> None:
    lines = his_samples.sample_lines(60, start=START, unmatched=2, refunds=2)
    first_export = his_samples.write_csv(tmp_path / "day1.csv", lines[:40])
    full_export = his_samples.write_csv(tmp_path / "day5.csv", lines)
    assert import_file(session, stay, clerk, first_export).added == 40
    result = import_file(session, stay, clerk, full_export)
    assert (result.rows, result.added, result.already_present) == (60, 20, 40)
    assert [line.seq for line in lines_of(session, stay)] == list(range(1, 61))


def test_xlsx_import_with_numbers_dates_and_a_title_row(session: Session, stay: Stay, clerk: OperatorInfo,
                                                       tmp_path: Path, mapping: ColumnMapping) -> None:
    lines = his_samples.sample_lines(30, start=START, unmatched=1, refunds=1)
    path = his_samples.write_xlsx(tmp_path / "费用明细.xlsx", lines, title="住院费用明细清单")
    parsed = read_his_file(path, mapping)
    assert (parsed.file_format, parsed.encoding) == ("xlsx", None)
    assert parsed.rows[0].row == 3  # title on row 1, header on row 2
    assert [(r.his_code, r.quantity, r.unit_price, r.amount, r.charged_on) for r in parsed.rows] == [
        (s.his_code, s.quantity, s.unit_price, s.amount, s.charged_on) for s in lines]
    result = import_his_file(session, stay.id, parsed, clerk, COUNTER, "default")
    assert (result.added, result.unmatched) == (30, 1)
    # The same lines as a CSV export are the same lines (same line ids): nothing twice.
    assert import_file(session, stay, clerk, his_samples.write_csv(tmp_path / "same.csv", lines)).added == 0


def test_xlsx_bad_rows_are_reported_by_sheet_row(session: Session, stay: Stay, clerk: OperatorInfo,
                                                 tmp_path: Path) -> None:
    lines = his_samples.sample_lines(5, start=START, unmatched=0, refunds=0)
    broken = [*lines[:3], replace(lines[3], amount=lines[3].amount + Decimal("0.01")), lines[4]]
    path = his_samples.write_xlsx(tmp_path / "bad.xlsx", broken)
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, path)
    assert [(p.row, p.column) for p in refused.value.problems] == [(5, "金额")]


def test_refunds_in_the_file_and_of_earlier_lines(session: Session, stay: Stay, clerk: OperatorInfo,
                                                  tmp_path: Path) -> None:
    day1 = [HEADER,
            "MX001,XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,2026-11-02,骨科,YZ01,S82.201,",
            "MX002,XJ01DB04,注射用头孢唑林钠,西药,4,4.80,19.20,2026-11-02,骨科,YZ01,S82.201,",
            "MX003,XB01AC06,阿司匹林肠溶片,西药,-4,0.50,-2.00,2026-11-03,骨科,YZ01,S82.201,MX001"]
    import_file(session, stay, clerk, write(tmp_path / "d1.csv", "\n".join(day1) + "\n"))
    lines = {line.seq: line for line in lines_of(session, stay)}
    assert lines[3].refund_of_id == lines[1].id and lines[3].amount == Decimal("-2.00")

    # Later: refund the rest of MX001 (6 left) — 7 is too many; MX002 refunded under another code is refused;
    # a refund of a refund is refused.
    too_much = day1 + ["MX004,XB01AC06,阿司匹林肠溶片,西药,-7,0.50,-3.50,2026-11-04,骨科,YZ01,S82.201,MX001",
                       "MX005,XN02BE01,对乙酰氨基酚片,西药,-1,4.80,-4.80,2026-11-04,骨科,YZ01,S82.201,MX002",
                       "MX006,XB01AC06,阿司匹林肠溶片,西药,-1,0.50,-0.50,2026-11-04,骨科,YZ01,S82.201,MX003"]
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, write(tmp_path / "d2.csv", "\n".join(too_much) + "\n"))
    found = problems_by_row(refused.value)
    assert sorted(found) == [5, 6, 7]
    assert "超过原明细" in found[5][0] and "不同" in found[6][0] and "本身是退费行" in found[7][0]
    # The same against lines imported earlier (not in this file), and a refund of a line never imported.
    later = [HEADER, "MX004,XB01AC06,阿司匹林肠溶片,西药,-7,0.50,-3.50,2026-11-04,骨科,YZ01,S82.201,MX001",
             "MX005,XN02BE01,对乙酰氨基酚片,西药,-1,4.80,-4.80,2026-11-04,骨科,YZ01,S82.201,MX002",
             "MX006,XB01AC06,阿司匹林肠溶片,西药,-1,0.50,-0.50,2026-11-04,骨科,YZ01,S82.201,MX003",
             "MX007,XB01AC06,阿司匹林肠溶片,西药,-1,0.50,-0.50,2026-11-04,骨科,YZ01,S82.201,MX999"]
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, write(tmp_path / "d2b.csv", "\n".join(later) + "\n"))
    found = problems_by_row(refused.value)
    assert sorted(found) == [2, 3, 4, 5]
    assert "超过原明细" in found[2][0] and "不同" in found[3][0] and "本身是退费行" in found[4][0]
    assert "MX999" in found[5][0] and "未曾导入" in found[5][0]
    assert line_count(session, stay) == 3

    fine = day1 + ["MX004,XB01AC06,阿司匹林肠溶片,西药,-6,0.50,-3.00,2026-11-04,骨科,YZ01,S82.201,MX001"]
    assert import_file(session, stay, clerk, write(tmp_path / "d3.csv", "\n".join(fine) + "\n")).added == 1
    lines = {line.seq: line for line in lines_of(session, stay)}
    assert lines[4].refund_of_id == lines[1].id and lines[4].quantity == Decimal("-6")


def test_a_line_the_his_changed_after_import_is_reported_not_overwritten(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path) -> None:
    first = [HEADER, "MX001,XB01AC06,阿司匹林肠溶片,西药,10,0.50,5.00,2026-11-02,骨科,YZ01,S82.201,"]
    import_file(session, stay, clerk, write(tmp_path / "a.csv", "\n".join(first) + "\n"))
    changed = [HEADER, "MX001,XB01AC06,阿司匹林肠溶片,西药,12,0.50,6.00,2026-11-02,骨科,YZ01,S82.201,",
               "MX002,XJ01DB04,注射用头孢唑林钠,西药,1,4.80,4.80,2026-11-03,骨科,YZ02,S82.201,"]
    result = import_file(session, stay, clerk, write(tmp_path / "b.csv", "\n".join(changed) + "\n"))
    assert (result.added, result.already_present) == (1, 1)
    assert [(p.row, p.column) for p in result.differing] == [(2, "明细流水号")]
    assert "数量 12" in result.differing[0].message and "数量 10" in result.differing[0].message
    assert lines_of(session, stay)[0].quantity == Decimal("10")  # kept: it may have been corrected by hand
    assert audit_events(session, "his_import")[-1].detail["differing_rows"] == [2]


def test_category_comes_from_the_catalogue_when_the_file_has_none(session: Session, stay: Stay,
                                                                 clerk: OperatorInfo, tmp_path: Path) -> None:
    text = ("项目编码,项目名称,数量,单价,费用日期\n"
            "C0104001003,胫骨近端锁定钢板,1,4800,2026-11-02\n"
            "XB01AC06,阿司匹林肠溶片,2,0.5,2026-11-02\n"
            "HZ-9003,陪护床租用,1,10,2026-11-02\n")
    result = import_file(session, stay, clerk, write(tmp_path / "no-category.csv", text))
    assert result.unmatched == 1
    lines = lines_of(session, stay)
    assert [line.category for line in lines] == [ChargeCategory.CONSUMABLE, ChargeCategory.DRUG, None]
    assert [line.amount for line in lines] == [Decimal("4800.00"), Decimal("1.00"), Decimal("10.00")]


# --- the column mapping ------------------------------------------------------------------------------


def test_a_hospital_mapping_in_the_config_folder_extends_the_default(session: Session, stay: Stay,
                                                                    clerk: OperatorInfo, tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "his_mappings").mkdir(parents=True)
    (config / "his_mappings" / "zhanjiang-first.toml").write_text(
        'title = "湛江市第一人民医院 HIS"\nextends = "default"\ndate_formats = ["%d/%m/%Y"]\n'
        '[columns]\nhis_code = ["收费编码"]\nline_id = ["费用ID"]\n[categories]\n"草药" = "drug"\n', encoding="utf-8")
    assert mapping_names(config) == ["default", "zhanjiang-first"]
    hospital = load_mapping("zhanjiang-first", config)
    assert hospital.columns["his_code"] == ("收费编码",) and hospital.columns["quantity"] == ("数量",)
    assert hospital.categories["草药"] == ChargeCategory.DRUG and hospital.categories["西药"] == ChargeCategory.DRUG
    text = "费用ID,收费编码,项目名称,类别,数量,单价,金额,日期\nA1,XB01AC06,阿司匹林肠溶片,草药,2,0.5,1.00,02/11/2026\n"
    result = import_file(session, stay, clerk, write(tmp_path / "zj.csv", text), hospital)
    assert result.added == 1
    assert lines_of(session, stay)[0].charged_on == dt.date(2026, 11, 2)
    assert session.scalars(select(HisImport.mapping_name)).one() == "zhanjiang-first"
    # The default mapping does not know this layout: the missing column is named.
    with pytest.raises(HisFileInvalid) as refused:
        read_his_file(tmp_path / "zj.csv", load_mapping("default"))
    assert "项目编码" in refused.value.message


def test_bad_mappings_are_refused_clearly(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "his_mappings").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="没有名为“nowhere”"):
        load_mapping("nowhere", config)
    (config / "his_mappings" / "broken.toml").write_text('extends = "default"\n[categories]\n"西药" = "pills"\n',
                                                          encoding="utf-8")
    with pytest.raises(ConfigurationError, match="pills"):
        load_mapping("broken", config)
    (config / "his_mappings" / "loop.toml").write_text('extends = "loop2"\n', encoding="utf-8")
    (config / "his_mappings" / "loop2.toml").write_text('extends = "loop"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="循环"):
        load_mapping("loop", config)


# --- who may import, into which stay ------------------------------------------------------------------


def test_a_role_without_import_charges_is_refused(session: Session, stay: Stay, clerk: OperatorInfo,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = his_samples.write_csv(tmp_path / "his.csv", his_samples.sample_lines(5, start=START))
    parsed = read_his_file(path, load_mapping())
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CASHIER, ROLE_PERMISSIONS[Role.CASHIER] - {Permission.IMPORT_CHARGES})
    with pytest.raises(PermissionDenied, match="导入费用"):
        import_his_file(session, stay.id, parsed, clerk, COUNTER, "default")
    assert line_count(session, stay) == 0


def test_a_settled_stay_takes_no_more_lines(session: Session, stay: Stay, clerk: OperatorInfo,
                                            tmp_path: Path) -> None:
    stay.status = StayStatus.SETTLED
    session.flush()
    path = his_samples.write_csv(tmp_path / "his.csv", his_samples.sample_lines(5, start=START))
    with pytest.raises(WorkflowError, match="已结算"):
        import_file(session, stay, clerk, path)


def test_the_demo_files_for_zhang_wei(session: Session, stay: Stay, clerk: OperatorInfo) -> None:
    """The demo's sample exports: the one with a bad row is refused (row 6), the clean one imports."""
    from app.resources import resource_path

    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, resource_path("demo", "his", "张伟-住院费用-有错行.csv"))
    assert [(p.row, p.column) for p in refused.value.problems] == [(6, "金额")]
    result = import_file(session, stay, clerk, resource_path("demo", "his", "张伟-住院费用.csv"))
    assert (result.rows, result.added, result.unmatched) == (31, 31, 1)
    lines = lines_of(session, stay)
    assert lines[-1].refund_of_id == next(line.id for line in lines if line.his_code == "XJ01DB04")
    assert {line.diagnosis_code for line in lines} == {"S82.201", "I10"}
    assert [line.his_code for line in lines if line.code is None] == ["HZ-9001"]
    # The files are what the generator writes (regenerate with `python -m app.demo.his_samples`).
    start = dt.date(2026, 11, 20)
    assert resource_path("demo", "his", "张伟-住院费用.csv").read_bytes() == his_samples.csv_bytes(
        his_samples.demo_lines(start))


# Random rows, bytes and workbooks: tests/fuzz/test_fuzz_his_import.py (hostile input, counted).


def test_xlsx_float_noise_from_formulas_is_not_a_wrong_amount(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["项目编码", "项目名称", "数量", "单价", "金额", "费用日期"])
    sheet.append(["XJ01DB04", "注射用头孢唑林钠", 3, 4.8, 3 * 4.8, dt.datetime(2026, 11, 2, 8, 30)])  # 14.399999999999999
    sheet.append(["XB01AC06", "阿司匹林肠溶片", 0.1 + 0.2, 0.5, 0.15, "2026-11-02"])  # 0.30000000000000004
    workbook.save(tmp_path / "formulas.xlsx")
    parsed = read_his_file(tmp_path / "formulas.xlsx", load_mapping())
    assert [(r.quantity, r.amount, r.charged_on) for r in parsed.rows] == [
        (Decimal("3"), Decimal("14.4"), dt.date(2026, 11, 2)), (Decimal("0.3"), Decimal("0.15"), dt.date(2026, 11, 2))]


def test_a_line_stored_meanwhile_by_another_counter_stops_the_import_cleanly(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unique fingerprint is the last guard: a clash while storing is a clear refusal, not a crash."""
    from app.workflow import code_map
    from app.workflow.charges import add_line

    path = his_samples.write_csv(tmp_path / "his.csv", his_samples.sample_lines(5, start=START, refunds=0))
    parsed = read_his_file(path, load_mapping())
    real_match = code_map.match_codes

    def match_while_another_counter_imports(session_: Session, codes: object) -> object:
        line_id = add_line(session_, clerk, "窗口2", stay.id, his_code="XB01AC06", name="阿司匹林肠溶片", category=None,
                           quantity=Decimal("1"), unit_price=Decimal("0.5"), charged_on=START,
                           diagnosis_code="S82.201", reason="HIS 漏传")
        from app.db.models import ChargeLine

        line = session_.get(ChargeLine, line_id)
        assert line is not None
        line.import_fingerprint = parsed.rows[2].fingerprint
        session_.flush()
        return real_match(session_, codes)  # type: ignore[arg-type]

    monkeypatch.setattr(code_map, "match_codes", match_while_another_counter_imports)
    with pytest.raises(WorkflowError, match="另一窗口"):
        import_his_file(session, stay.id, parsed, clerk, COUNTER, "default")


def test_charges_dated_before_the_admission_question_the_admission_date(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path) -> None:
    """Issue 20 §3: a stay registered with today's date while the HIS charges start days earlier could
    not be settled (the centre refused the lines, 3005) and nobody said why. The import says it."""
    stay.admitted_on = START
    session.flush()
    lines = his_samples.sample_lines(5, start=START - dt.timedelta(days=2), unmatched=0, refunds=0)
    export = his_samples.write_csv(tmp_path / "early.csv", lines)
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, export)
    early = [p for p in refused.value.problems if "早于入院日期" in p.message]
    assert early and all("入院日期是否录错" in p.message and START.isoformat() in p.message for p in early)
    assert {p.column for p in early} == {"费用日期"}
    assert line_count(session, stay) == 0  # nothing half-written
