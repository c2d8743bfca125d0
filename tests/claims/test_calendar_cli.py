"""`wi-counter calendar show / import`: the holiday files from the command line, without the database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from app.business_date import business_today
from app.cli import calendar as commands_calendar
from app.cli.common import CommandLine

YEAR_2027 = """\
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知（测试）"

[[holiday]]
name = "春节"
from = "2027-02-06"
to = "2027-02-13"
workdays = ["2027-02-14", "2027-02-20"]
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Parse and run the calendar's commands alone, registered the one way (`CommandLine`), `--home` on the top parser."""
    parser = argparse.ArgumentParser(prog="wi-counter")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--demo", action="store_true")
    commands_calendar.register(CommandLine(parser.add_subparsers(dest="command")))
    args = parser.parse_args(argv)
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_a_shipped_year(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    code, out, _ = run(capsys, "calendar", "show", "--year", "2026")
    assert code == 0
    assert "国办发明电〔2025〕7号" in out
    assert "春节\t2月15日（周日）至2月23日（周一），共 9 天；调休上班：2月14日（周六）、2月28日（周六）" in out
    assert "国庆节\t10月1日（周四）至10月7日（周三），共 7 天；调休上班：9月20日（周日）、10月10日（周六）" in out
    assert "随程序提供" in out
    assert not (isolated_home / "data").exists()  # no database, no folders created


def test_show_json_and_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calendar", "show", "--year", "2024", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["covered"] and document["origin"] == "shipped" and document["warning"] is None
    spring = next(h for h in document["holidays"] if h["name"] == "春节")
    assert spring["days"][0] == "2024-02-10" and spring["days"][-1] == "2024-02-17"
    assert spring["workdays"] == ["2024-02-04", "2024-02-18"]
    dragon_boat = next(h for h in document["holidays"] if h["name"] == "端午节")
    assert dragon_boat["days"] == ["2024-06-10"]  # 6月10日放假，与周末连休
    coverage = {c["year"]: c["covered"] for c in document["coverage"]}
    next_year = business_today().year + 1
    assert coverage[2024] and coverage[2025] and coverage[2026]
    assert set(coverage) == set(range(2024, max(next_year, 2024) + 1))


def test_show_a_year_not_covered(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calendar", "show", "--year", "2030")
    assert code == 0
    assert "2030 年的调休安排（国务院办公厅节假日安排通知）尚未导入" in out
    assert "  2030  调休安排未导入，按周末和法定节假日计算" in out
    # 全国年节及纪念日放假办法: the statutory days are shown all the same (2030's 除夕 is 2 Feb).
    assert "农历除夕\t2月2日" in out
    code, out, _ = run(capsys, "calendar", "show", "--year", "2030", "--json")
    document = json.loads(out)
    assert document["covered"] is False
    assert {"day": "2030-02-02", "name": "农历除夕"} in document["statutory"]
    assert len(document["statutory"]) == 13  # 元旦 1, 春节 4, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3
    code, _, err = run(capsys, "calendar", "show", "--year", "99")
    assert code == 2 and "年份应在 2000 至 2100 之间" in err


def test_import_then_show(capsys: pytest.CaptureFixture[str], isolated_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "2027年放假安排.toml"
    source.write_text(YEAR_2027, encoding="utf-8")
    code, out, _ = run(capsys, "calendar", "import", str(source))
    installed = isolated_home / "config" / "calendar" / "2027.toml"
    assert code == 0 and f"已导入 2027 年节假日安排 / imported: {installed}" in out
    assert installed.read_text(encoding="utf-8") == YEAR_2027
    code, out, _ = run(capsys, "calendar", "show", "--year", "2027")
    assert code == 0 and "本院导入" in out and "调休上班：2月14日（周日）、2月20日（周六）" in out
    assert not (isolated_home / "data").exists()


def test_import_replaces_a_shipped_year(capsys: pytest.CaptureFixture[str], isolated_home: Path,
                                        tmp_path: Path) -> None:
    source = tmp_path / "new-2026.toml"
    source.write_text('year = 2026\nsource = "更正通知（测试）"\n[[holiday]]\nname = "春节"\n'
                      'from = "2026-02-15"\nto = "2026-02-24"\n', encoding="utf-8")
    code, out, _ = run(capsys, "calendar", "import", str(source))
    assert code == 0 and "替换随程序提供的同年文件" in out
    code, out, _ = run(capsys, "calendar", "show", "--year", "2026", "--json")
    document = json.loads(out)
    assert document["origin"] == "site" and document["source"] == "更正通知（测试）"


def test_import_refuses_a_malformed_file(capsys: pytest.CaptureFixture[str], isolated_home: Path,
                                         tmp_path: Path) -> None:
    source = tmp_path / "2027.toml"
    source.write_text(YEAR_2027.replace('"2027-02-20"', '"2027-02-19"'), encoding="utf-8")  # a Friday
    code, out, err = run(capsys, "calendar", "import", str(source))
    assert code == 2 and out == ""
    assert str(source) in err and "调休上班日 2027-02-19 是周五，不是周末" in err
    assert not (isolated_home / "config" / "calendar" / "2027.toml").exists()
    code, _, err = run(capsys, "calendar", "import", str(tmp_path / "missing.toml"))
    assert code == 2 and "无法读取" in err


def test_show_reports_a_broken_installed_file(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    folder = isolated_home / "config" / "calendar"
    folder.mkdir(parents=True)
    (folder / "2027.toml").write_text(YEAR_2027.replace("[[holiday]]", "[[holidays]]"), encoding="utf-8")
    code, _, err = run(capsys, "calendar", "show")
    assert code == 1 and str(folder / "2027.toml") in err and "未知的键 holidays" in err


def test_calendar_alone_shows_this_year(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calendar")
    assert code == 0 and "各年份 / coverage 2024–" in out
