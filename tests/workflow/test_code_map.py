"""The HIS code → catalogue code mapping kept by the program (目录对照, `003 §27`): the mapping row first,
then a HIS code that is itself a catalogue code; unmatched lines flagged; mapping re-matches the lines
not yet uploaded in open stays, audited; items confirmed outside the catalogue (`003 §15`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import main
from app.db.models import CatalogueItem, ChargeCategory, HisCodeMap, Role, Stay, StayStatus, utc_now
from app.errors import PermissionDenied
from app.operators import ROLE_PERMISSIONS, OperatorInfo, Permission
from app.workflow.code_map import (
    SELF_PAY,
    CodeMatch,
    line_match_status,
    match_codes,
    set_mapping,
    unmatched_codes,
    unmatched_lines,
)
from app.workflow.common import WorkflowError
from tests import factories
from tests.workflow.charge_helpers import (  # noqa: F401 - fixtures
    COUNTER,
    audit_events,
    clerk,
    import_file,
    lines_of,
    session,
    stay,
)
from tests.signed_in import password_on_stdin

HEADER = "明细流水号,项目编码,项目名称,费用类别,数量,单价,金额,费用日期"


def _import(session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path, *rows: str) -> None:
    path = tmp_path / f"his-{stay.id}-{len(rows)}.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode("gbk"))
    import_file(session, stay, clerk, path)


def _second_stay(session: Session, stay: Stay, admission_no: str) -> Stay:
    other = Stay(worker_id=stay.worker_id, institution_id=stay.institution_id, profile=stay.profile, care=stay.care,
                 admission_no=admission_no, dept=stay.dept, admitted_on=stay.admitted_on, created_by=stay.created_by)
    session.add(other)
    session.flush()
    return other


def test_mapping_row_first_then_a_catalogue_code_then_unmatched(session: Session, clerk: OperatorInfo) -> None:
    session.add_all([HisCodeMap(his_code="XB01AC06", catalogue_code="XN02BE01", updated_by=clerk.id),
                     HisCodeMap(his_code="HZ-9002", catalogue_code=None, updated_by=clerk.id),
                     HisCodeMap(his_code="YY-0001", catalogue_code="XJ01DB04", updated_by=clerk.id)])
    withdrawn = session.scalars(select(CatalogueItem).where(CatalogueItem.code == "XJ01CA04")).one()
    withdrawn.valid = False
    session.flush()
    found = match_codes(session, ["XB01AC06", "HZ-9002", "YY-0001", "XM01AE01", "HZ-9001", "XJ01CA04"])
    assert found == {
        "XB01AC06": CodeMatch("XN02BE01", "matched"),  # the mapping row wins over the code itself
        "HZ-9002": CodeMatch(None, "self_pay"),
        "YY-0001": CodeMatch("XJ01DB04", "matched"),
        "XM01AE01": CodeMatch("XM01AE01", "matched"),  # a HIS code that is a catalogue code
        "HZ-9001": CodeMatch(None, "unmatched"),
        "XJ01CA04": CodeMatch(None, "unmatched"),  # withdrawn from the catalogue
    }


def test_set_mapping_rematches_open_stays_lines_not_yet_uploaded(session: Session, stay: Stay, clerk: OperatorInfo,
                                                                 tmp_path: Path) -> None:
    """`003 §27`: the clerk maps a hospital code once; every open stay's pending lines follow."""
    rows = ("MX1,HZ-9001,院内制剂 消肿膏,,2,18.50,37.00,2026-11-02",
            "MX2,HZ-9001,院内制剂 消肿膏,,1,18.50,18.50,2026-11-03",
            "MX3,HZ-9003,陪护床租用,诊疗,1,10.00,10.00,2026-11-03",
            "MX4,XB01AC06,阿司匹林肠溶片,西药,2,0.50,1.00,2026-11-03")
    _import(session, stay, clerk, tmp_path, *rows)
    uploaded, pending = lines_of(session, stay)[:2]
    uploaded.uploaded_at = utc_now()
    settled = _second_stay(session, stay, "016357099")
    _import(session, settled, clerk, tmp_path, "MX1,HZ-9001,院内制剂 消肿膏,西药,2,18.50,37.00,2026-11-02")
    settled.status = StayStatus.SETTLED
    session.flush()
    assert unmatched_lines(session, stay.id) == [uploaded.id, pending.id, lines_of(session, stay)[2].id]
    assert [(c.his_code, c.lines) for c in unmatched_codes(session, stay.id)] == [("HZ-9001", 2), ("HZ-9003", 1)]

    changed = set_mapping(session, clerk, COUNTER, "HZ-9001", "XM01AE01", note="院内制剂对照布洛芬（培训数据）")
    assert changed == 1  # only the pending line of the open stay
    lines = lines_of(session, stay)
    assert [line.code for line in lines] == [None, "XM01AE01", None, "XB01AC06"]
    assert lines[1].category == ChargeCategory.DRUG  # taken from the catalogue: the file had none
    assert lines_of(session, settled)[0].code is None
    assert unmatched_lines(session, stay.id) == [lines[0].id, lines[2].id]

    # The pending line keeps its empty code but now counts as 自费: it follows the mapping.
    assert set_mapping(session, clerk, COUNTER, "HZ-9003", None, note="目录外，已告知") == 1
    assert unmatched_lines(session, stay.id) == [lines[0].id]
    statuses = line_match_status(session, stay.id)
    assert [statuses[line.id] for line in lines] == ["unmatched", "matched", SELF_PAY, "matched"]

    # Changing a mapping moves pending lines again; the audit keeps before and after.
    assert set_mapping(session, clerk, COUNTER, "HZ-9001", "XM01AB05") == 1
    events = audit_events(session, "his_code_mapped")
    assert [(e.entity_id, e.detail["before"], e.detail["after"]["catalogue_code"], e.detail["lines_changed"])
            for e in events] == [
        ("HZ-9001", None, "XM01AE01", 1),
        ("HZ-9003", None, None, 0),
        ("HZ-9001", {"catalogue_code": "XM01AE01", "note": "院内制剂对照布洛芬（培训数据）"}, "XM01AB05", 1),
    ]
    row = session.scalars(select(HisCodeMap).where(HisCodeMap.his_code == "HZ-9001")).one()
    assert (row.catalogue_code, row.his_name) == ("XM01AB05", "院内制剂 消肿膏")


def test_mapping_to_a_code_not_in_the_catalogue_is_refused(session: Session, clerk: OperatorInfo) -> None:
    with pytest.raises(WorkflowError, match="目录中没有有效的编码 NOPE"):
        set_mapping(session, clerk, COUNTER, "HZ-9001", "NOPE")
    with pytest.raises(WorkflowError, match="HIS 项目编码"):
        set_mapping(session, clerk, COUNTER, "  ", "XM01AE01")
    assert session.scalars(select(HisCodeMap)).all() == []


def test_mapping_needs_the_import_permission(session: Session, clerk: OperatorInfo,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CASHIER, ROLE_PERMISSIONS[Role.CASHIER] - {Permission.IMPORT_CHARGES})
    with pytest.raises(PermissionDenied):
        set_mapping(session, clerk, COUNTER, "HZ-9001", "XM01AE01")


def test_cli_import_and_map(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`wi-counter charges import` lists every bad row (exit 2), imports the clean file, `charges map` re-matches."""
    from app.bootstrap import open_counter

    home = tmp_path / "home"
    ctx = open_counter(home=home)
    with ctx.transaction() as session:
        from app.workflow.catalogue import seed_demo_catalogue

        seed_demo_catalogue(session)
        stay_id = factories.stay(session).id
    ctx.close()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(("\r\n".join([HEADER, "MX1,HZ-9001,院内制剂 消肿膏,西药,2,18.50,37.01,2026-11-02",
                                  "MX2,XB01AC06,阿司匹林肠溶片,西药,2,0.50,1.00,2026-11-31"]) + "\r\n").encode("gbk"))
    password_on_stdin(monkeypatch)
    assert main(["charges", "import", str(stay_id), str(bad), "--home", str(home), "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "2 处问题" in err and "第 2 行“金额”列" in err and "第 3 行“费用日期”列" in err
    good = tmp_path / "good.csv"
    good.write_bytes(bad.read_bytes().replace(b"37.01", b"37.00").replace(b"2026-11-31", b"2026-11-30"))
    password_on_stdin(monkeypatch)  # the stay's cashier, the only operator: named by default, signed in
    assert main(["charges", "import", str(stay_id), str(good), "--home", str(home), "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "新增 2 条" in out and "未对照 1 条" in out
    password_on_stdin(monkeypatch)
    assert main(["charges", "map", "HZ-9001", "XM01AE01", "--home", str(home), "--operator", "cashier",
                 "--password-stdin"]) == 0
    assert "重新对照 1 条" in capsys.readouterr().out
    assert main(["charges", "map", "HZ-9001", "--self-pay", "--home", str(home)]) == 1  # no password: nothing done
    assert "密码" in capsys.readouterr().err
    password_on_stdin(monkeypatch)
    assert main(["charges", "map", "HZ-9001", "--self-pay", "--home", str(home), "--password-stdin"]) == 0
    ctx = open_counter(home=home)
    with ctx.transaction() as session:
        assert unmatched_lines(session, stay_id) == []
        assert [line.code for line in lines_of(session, session.get(Stay, stay_id))] == [None, "XB01AC06"]
    ctx.close()
