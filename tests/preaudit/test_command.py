"""`wi-counter audit-stay CASE.json [--json]`, in process (as tests/rules/test_cli_rules.py drives check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

CASES = Path(__file__).resolve().parent.parent / "cases"


def test_json_lists_the_findings_with_money_as_strings(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """003 §15: settle-buckets has a bed fee of 20 days on one date, a CT classed injury on I10, two items outside
    the catalogue without a consent record (a case file has none)."""
    assert main(["audit-stay", str(CASES / "settle-buckets.json"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(f["seq"], f["rule"], f["amount_at_risk"]) for f in document["findings"]] == [
        (5, "daily_limit", "855.00"),
        (6, "injury_diagnosis_mismatch", "280.00"),
        (8, "out_of_catalogue_no_consent", "0.00"),
        (10, "out_of_catalogue_no_consent", "0.00"),
    ]
    first = document["findings"][0]
    assert set(first) == {"seq", "rule", "message", "source", "amount_at_risk", "advice"}
    assert first["source"] == "003 §15" and "床位费 2023-05-28 计 20 次" in first["message"]
    assert "未记录告知" in document["findings"][2]["message"]
    assert document["total_at_risk"] == "1135.00"
    assert any("患者告知记录" in note for note in document["notes"])


def test_the_criteria_date_option_feeds_the_discharge_criteria_rule(isolated_home: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """003 §15: with the criteria met on 2023-05-19, the 2023-05-20 and 05-28 lines are after them."""
    assert main(["audit-stay", str(CASES / "settle-buckets.json"), "--json", "--criteria-date", "2023-05-19"]) == 0
    document = json.loads(capsys.readouterr().out)
    after = [(f["seq"], f["amount_at_risk"]) for f in document["findings"] if f["rule"] == "after_discharge_criteria"]
    assert after == [(5, "900.00")]  # seq 10 (05-20) is outside the catalogue: no fund part at risk


def test_the_readable_table_in_chinese(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-stay", str(CASES / "settle-buckets.json")]) == 0
    out = capsys.readouterr().out
    assert "预审发现 4 处可能被扣款，预计扣款合计 1135.00 元" in out
    assert "按日收费项目一天超过一次（003 §15）" in out and "建议：" in out


def test_a_clean_case_has_no_findings(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-stay", str(CASES / "local-clean.json")]) == 0
    assert "预审未发现可能被扣款的明细" in capsys.readouterr().out


def test_an_invalid_case_exits_2_with_the_same_error_shape_as_check(isolated_home: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-stay", str(CASES / "invalid-unknown-key.json"), "--json"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["error"] == "病例文件无效 / invalid case file"
    assert {"path": "$.stay.dischraged", "message": "未知字段（拼写错误？）"} in document["problems"]
    assert "病例文件无效" in captured.err
    assert main(["check", str(CASES / "invalid-unknown-key.json"), "--stage", "admission", "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == document


def test_a_broken_rules_file_exits_1_naming_it(isolated_home: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text('{"format": "wi-counter-preaudit-rules/1", "rules": []}', encoding="utf-8")
    assert main(["audit-stay", str(CASES / "settle-buckets.json"), "--rules", str(broken)]) == 1
    err = capsys.readouterr().err
    assert str(broken) in err and "$.rules: 缺少规则" in err
