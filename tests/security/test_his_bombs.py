"""HIS files are bounded: size, rows, columns, an XLSX's unpacked size; absurd numbers are a row's problem
(issue 22 item 5).

Found: a 1.5 MB XLSX zip bomb expanded to 16 GB (killed after 300 s); a 213 MB CSV became 2.33 M lines
in one stay; a huge quantity × price or a 10⁶-digit money value gave raw tracebacks. Each file here is
a real file read by `read_his_file` and imported into a stay on both databases.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.db.models import Stay
from app.operators import OperatorInfo
from app.workflow import his_import
from app.demo import his_samples
from app.workflow.his_import import HisFileInvalid
from tests.workflow.charge_helpers import (  # noqa: F401 - fixtures
    START,
    clerk,
    import_count,
    import_file,
    line_count,
    session,
    stay,
)

HEADER = "明细流水号,项目编码,项目名称,费用类别,数量,单价,金额,费用日期,开单科室,医嘱组号,诊断编码,原明细流水号"
ROW = "MX{n},XB01AC06,阿司匹林肠溶片,西药,1,0.50,0.50,2026-11-02,骨科,YZ01,S82.201,"
MiB = 1024 * 1024
HAN = re.compile(r"[\u4e00-\u9fff]")


def _refused(path: Path) -> tuple[HisFileInvalid, float]:
    began = time.monotonic()
    with pytest.raises(HisFileInvalid) as refused:
        his_import.read_his_file(path, his_import.load_mapping("default"))
    return refused.value, time.monotonic() - began


def _zip_bomb(tmp_path: Path, unpacked_mib: int) -> Path:
    """A genuine workbook whose sheet XML carries `unpacked_mib` MiB of whitespace (about 1 MB packed)."""
    genuine = his_samples.write_xlsx(tmp_path / "genuine.xlsx", his_samples.sample_lines(3, start=START))
    bomb = tmp_path / "费用.xlsx"
    spaces = b" " * MiB
    with zipfile.ZipFile(genuine) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in source.infolist():
            data = source.read(info)
            if not info.filename.startswith("xl/worksheets/"):
                out.writestr(info, data)
                continue
            head, tail = data.split(b"</worksheet>")
            with out.open(info.filename, "w", force_zip64=True) as member:
                member.write(head)
                for _ in range(unpacked_mib):
                    member.write(spaces)
                member.write(b"</worksheet>" + tail)
    return bomb


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path, 2048)  # 2 GiB unpacked
    assert bomb.stat().st_size < 5 * MiB
    error, elapsed = _refused(bomb)
    assert "解压" in error.message and "MiB" in error.message, error.message
    assert elapsed < 5, f"{elapsed:.1f} s"


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "费用.csv"
    limit = his_import.MAX_FILE_BYTES
    with path.open("wb") as file:
        file.write((HEADER + "\r\n").encode("gbk"))
        file.truncate(limit + 1)  # sparse: costs no disk; the reader must not read it
    error, elapsed = _refused(path)
    assert f"{limit // MiB} MiB" in error.message and HAN.search(error.message)
    assert elapsed < 2


def test_too_many_rows_are_refused_naming_the_limit(tmp_path: Path) -> None:
    limit = his_import.MAX_ROWS
    path = tmp_path / "费用.csv"
    path.write_bytes(("\r\n".join([HEADER, *(ROW.format(n=n) for n in range(limit + 5))]) + "\r\n").encode("gbk"))
    error, _ = _refused(path)
    assert f"{limit}" in error.message and "行" in error.message, error.message


def test_too_many_columns_are_refused_naming_the_limit(tmp_path: Path) -> None:
    limit = his_import.MAX_COLUMNS
    path = tmp_path / "费用.csv"
    extra = "," * (limit + 10) + "x"
    path.write_bytes(("\r\n".join([HEADER + extra, ROW.format(n=1) + extra]) + "\r\n").encode("gbk"))
    error, _ = _refused(path)
    assert f"{limit} 列" in error.message, error.message


NO_AMOUNT = HEADER.replace(",金额", "")


@pytest.mark.parametrize(("header", "row", "column"), [
    # each below the per-cell bound; their product (the amount, computed: no 金额 column) is not
    (NO_AMOUNT, "MX1,XB01AC06,阿司匹林肠溶片,西药,999999999,999999999,2026-11-02,骨科,YZ01,S82.201,", "金额"),
    (HEADER, "MX1,XB01AC06,阿司匹林肠溶片,西药,1,0.50," + "1" * 100_000 + ",2026-11-02,骨科,YZ01,S82.201,", "金额"),
    (HEADER, "MX1,XB01AC06,阿司匹林肠溶片,西药,1." + "0" * 100_000 + ",0.50,0.50,2026-11-02,骨科,YZ01,S82.201,",
     "数量"),
    (HEADER, "MX1,XB01AC06,阿司匹林肠溶片,西药,1,0.50," + "1" * 1_000_000 + ",2026-11-02,骨科,YZ01,S82.201,", None),
], ids=["product", "100k-digit-amount", "100k-digit-quantity", "10^6-character-cell"])
def test_absurd_numbers_are_a_rows_problem_not_a_traceback(
        session: Session, stay: Stay, clerk: OperatorInfo, tmp_path: Path, header: str, row: str,
        column: str | None) -> None:
    good = ROW.format(n=2) if header == HEADER else ROW.format(n=2).replace(",0.50,2026", ",2026")
    path = tmp_path / "费用.csv"
    path.write_bytes(("\r\n".join([header, good, row]) + "\r\n").encode("gbk"))
    with pytest.raises(HisFileInvalid) as refused:
        import_file(session, stay, clerk, path)
    assert [(p.row, p.column) for p in refused.value.problems] == [(3, column)], refused.value.problems
    message = refused.value.message
    assert len(message) < 500 and not re.search(r"[A-Za-z]{5,}", message), message  # Chinese, not echoed whole
    assert line_count(session, stay) == 0 and import_count(session, stay) == 0


def test_the_limits_leave_a_real_stay_alone(tmp_path: Path) -> None:
    path = his_samples.write_csv(tmp_path / "费用.csv", his_samples.sample_lines(20_000, start=START))
    parsed = his_import.read_his_file(path, his_import.load_mapping("default"))
    assert len(parsed.rows) == 20_000
    buffer = io.BytesIO(path.read_bytes())
    assert buffer.getbuffer().nbytes < his_import.MAX_FILE_BYTES
