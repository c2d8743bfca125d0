"""`wi-counter check` / `settle`: exit status and outputs as ../shared/CASES.md fixes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from tests.rules.base_case import base_case


def write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_check_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    case["filing"]["valid_to"] = "2020-11-16"
    assert main(["check", write(tmp_path, case), "--stage", "discharge", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output == {"stage": "discharge", "allowed": True, "settlement_kind": "省内异地就医",
                      "reasons": [{"code": "ADMITTED_WITHIN_VALIDITY", "blocking": False,
                                   "message": output["reasons"][0]["message"], "source": "003 §10"}]}


def test_a_refused_verdict_still_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    case["filing"] = None
    assert main(["check", write(tmp_path, case), "--stage", "admission"]) == 0
    out = capsys.readouterr().out
    assert "不能直接结算" in out and "NO_FILING" in out and "003 §5" in out


def test_settle_text_shows_the_matrix_and_the_totals_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settle", write(tmp_path, base_case())]) == 0
    out = capsys.readouterr().out
    assert "其他（非工伤伤情费用）" in out
    assert "合计本次：总费用 15.00 元，工伤保险基金支付金额 0.00 元，个人支付金额 15.00 元" in out


def test_an_invalid_case_exits_2_with_every_problem_and_no_partial_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    case["items"][0]["amount"] = 15
    case["worker"]["id_number"] = "440802198001011234"
    assert main(["settle", write(tmp_path, case), "--json"]) == 2
    captured = capsys.readouterr()
    output = json.loads(captured.out)
    assert set(output) == {"error", "problems"}
    assert {p["path"] for p in output["problems"]} == {"$.items[0].amount", "$.worker.id_number"}
    assert "$.items[0].amount" in captured.err and "$.worker.id_number" in captured.err


def test_without_json_an_invalid_case_prints_nothing_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    case["stay"]["settled"] = None
    assert main(["settle", write(tmp_path, case)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "$.stay.settled" in captured.err
    assert main(["check", write(tmp_path, case), "--stage", "discharge"]) == 2
    assert main(["check", write(tmp_path, case), "--stage", "admission"]) == 0


def test_unclassified_lines_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = base_case()
    case["items"][0]["diagnosis"] = None
    assert main(["settle", write(tmp_path, case), "--json"]) == 2
    output = json.loads(capsys.readouterr().out)
    assert output["unclassified"] == [1]


def test_a_missing_file_exits_1_not_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CASES.md: 2 is for an invalid case file; no file at all is "anything else"."""
    assert main(["settle", str(tmp_path / "nope.json"), "--json"]) == 1
    assert "找不到病例文件" in capsys.readouterr().err


def test_malformed_json_is_an_invalid_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "case.json"
    path.write_text('{"format": "wi-counter-case/1",', encoding="utf-8")
    assert main(["check", str(path), "--stage", "admission", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["problems"][0]["path"] == "$"
