"""The rules and indications files: the shipped ones load; a typo anywhere is refused, naming file and path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.preaudit import PreauditConfigError, load_ruleset, site_paths
from app.preaudit.ruleset import RULE_IDS, default_indications_path, default_rules_path


def _shipped(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def _refused(tmp_path: Path, rules: Any = None, indications: Any = None) -> PreauditConfigError:
    rules_path = _write(tmp_path, "rules.json", rules) if rules is not None else None
    indications_path = _write(tmp_path, "indications.json", indications) if indications is not None else None
    with pytest.raises(PreauditConfigError) as caught:
        load_ruleset(rules_path, indications_path)
    return caught.value


def test_the_shipped_files_load_with_every_rule_its_source_and_chinese_texts() -> None:
    rules = load_ruleset()
    assert tuple(rules.rules) == RULE_IDS
    for rule in rules.rules.values():
        assert rule.source.startswith(("003 §", "000 §", "000 附件")) and rule.title and rule.explanation and rule.advice
    assert rules.rule("out_of_catalogue_no_consent").source == "003 §15"
    assert rules.rule("device_replaced_early").source == "000 附件9-2"
    assert rules.indication_for("XA10AB01").drug == "XA10A"  # type: ignore[union-attr]
    assert rules.indication_for("XJ01DC02") is None


def test_a_misspelt_rule_id_is_refused_with_its_path(tmp_path: Path) -> None:
    document = _shipped(default_rules_path())
    document["rules"][2]["id"] = "daily_limt"
    error = _refused(tmp_path, rules=document)
    assert str(tmp_path / "rules.json") in error.message
    assert "$.rules[2].id: 未知的规则 'daily_limt'" in error.message


def test_an_unknown_key_a_bad_parameter_and_a_bad_severity_are_all_named(tmp_path: Path) -> None:
    document = _shipped(default_rules_path())
    document["rules"][0]["sevrity"] = "high"
    document["rules"][1]["params"]["bed_codes"] = "1109"  # a string, not a list
    document["rules"][3]["params"]["usual_per_day"]["2501"] = 0
    document["rules"][4]["severity"] = "urgent"
    document["rules"][5]["params"]["categories"] = ["drugs"]
    error = _refused(tmp_path, rules=document)
    assert error.problems == [
        "$.rules[0].sevrity: 未知字段（拼写错误？）",
        "$.rules[1].params.bed_codes: 应为字符串数组",
        "$.rules[3].params.usual_per_day.2501: 应为正整数，实际为 0",
        "$.rules[4].severity: 只能取 high、medium、low，实际为 'urgent'",
        "$.rules[5].params.categories[0]: 只能取 drug、treatment、consumable、rehab、device，实际为 'drugs'",
    ]


def test_a_missing_rule_a_bad_source_and_an_unknown_parameter_are_refused(tmp_path: Path) -> None:
    document = _shipped(default_rules_path())
    del document["rules"][-1]
    assert "缺少规则：device_replaced_early" in _refused(tmp_path, rules=document).message
    document = _shipped(default_rules_path())
    document["rules"][0]["source"] = "§15"
    document["rules"][1]["params"]["bed_code"] = ["1109"]
    problems = _refused(tmp_path, rules=document).problems
    assert problems[0].startswith("$.rules[0].source: 格式不正确")
    assert problems[1] == "$.rules[1].params.bed_code: 未知字段（拼写错误？）"


def test_bad_indications_are_refused_with_their_paths(tmp_path: Path) -> None:
    document = _shipped(default_indications_path())
    document["indications"][0]["diagnoses"][1] = "i11"
    document["indications"][1]["drug"] = "XC09"  # the same prefix twice
    document["indications"][2]["diagnosis"] = ["I10"]
    error = _refused(tmp_path, indications=document)
    assert str(tmp_path / "indications.json") in error.message
    assert error.problems == [
        "$.indications[0].diagnoses[1]: 应为 ICD-10 编码前缀（如 \"I10\"），实际为 'i11'",
        "$.indications[1].drug: 药品编码前缀 XC09 重复（另见 $.indications[0]）",
        "$.indications[2].diagnosis: 未知字段（拼写错误？）",
    ]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"format": "wi-counter-preaudit-rules/1", "rules": [}', encoding="utf-8")
    with pytest.raises(PreauditConfigError, match="不是有效的 JSON：第 1 行"):
        load_ruleset(path)


def test_the_sites_files_in_the_config_folder_replace_the_shipped_ones(tmp_path: Path) -> None:
    assert site_paths(tmp_path) == (default_rules_path(), default_indications_path())
    site = tmp_path / "preaudit"
    site.mkdir()
    (site / "indications.json").write_text(json.dumps(
        {"format": "wi-counter-indications/1", "indications": [{"drug": "XM01", "diagnoses": ["M15"]}]}), encoding="utf-8")
    rules_path, indications_path = site_paths(tmp_path)
    assert rules_path == default_rules_path() and indications_path == site / "indications.json"
    assert [i.drug for i in load_ruleset(rules_path, indications_path).indications] == ["XM01"]
