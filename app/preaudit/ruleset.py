"""The pre-audit rules as data: `resources/preaudit/rules.json` and `indications.json`, checked on load.

Each rule carries its Chinese title, explanation and advice, its seed article, a severity and its
parameters; the engine's code only evaluates them. Both files are validated completely before use:
an unknown key, a missing rule, a parameter of the wrong type is an error naming the file and the
JSON path (`$.rules[2].params.bed_codes[0]`), so a typo never passes silently. A site may keep its
own `indications.json` (and `rules.json`) in the config folder's `preaudit/`; it replaces the
shipped one (`docs/preaudit.md`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.errors import WiCounterError
from app.resources import resource_path
from app.rules.case import CATEGORIES

RULES_FORMAT = "wi-counter-preaudit-rules/1"
INDICATIONS_FORMAT = "wi-counter-indications/1"
SEVERITIES = ("high", "medium", "low")
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}

# Every rule the engine knows, with the parameters it reads and their kinds. The rules file must list
# each exactly once (a rule is switched off with "enabled": false, never by leaving it out).
RULE_PARAMS: dict[str, dict[str, str]] = {
    "outside_stay_dates": {},
    "bed_days_exceed_stay": {"bed_codes": "prefixes", "count_discharge_day": "bool"},
    "daily_limit": {"extra_codes": "prefixes"},
    "repeated_same_day": {"usual_per_day": "counts"},
    "injury_diagnosis_mismatch": {},
    "indication_mismatch": {"categories": "categories"},
    "price_over_limit_unsplit": {},
    "out_of_catalogue_no_consent": {},
    "after_discharge_criteria": {},
    "settled_twice": {},
    "claimed_twice": {},
    "device_over_limit": {"units_per_configuration": "positive_int"},
    "device_replaced_early": {"group_prefix_length": "positive_int", "min_years": "counts"},
}
RULE_IDS = tuple(RULE_PARAMS)

_SOURCE = re.compile(r"[0-9]{3} (§[0-9]+|附件[0-9]+(-[0-9]+)?|附表[0-9]+)")
_CODE_PREFIX = re.compile(r"[0-9A-Za-z.\-]+")
_ICD_PREFIX = re.compile(r"[A-Z][0-9]{0,2}(\.[0-9]{0,3})?")


class PreauditConfigError(WiCounterError):
    """A rules or indications file is not valid; every problem is named with its JSON path."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"预审规则文件 {path} 有误，共 {len(problems)} 处：\n{listed}")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    explanation: str
    advice: str
    source: str
    severity: str
    enabled: bool
    params: Mapping[str, Any]

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS[self.severity]


@dataclass(frozen=True)
class Indication:
    """A drug code prefix and the ICD-10 code prefixes of the diagnoses it usually treats."""

    drug: str
    name: str
    diagnoses: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    rules: Mapping[str, Rule]
    indications: tuple[Indication, ...]

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def enabled(self, rule_id: str) -> bool:
        return self.rules[rule_id].enabled

    def indication_for(self, code: str) -> Indication | None:
        """The entry with the longest drug prefix matching `code`, if any."""
        best: Indication | None = None
        for entry in self.indications:
            if code.startswith(entry.drug) and (best is None or len(entry.drug) > len(best.drug)):
                best = entry
        return best


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def obj(self, value: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any] | None:  # type: ignore[assignment]
        if not isinstance(value, dict):
            self.problem(path, "应为 JSON 对象")
            return None
        for key in sorted(set(value) - required - set(optional)):
            self.problem(f"{path}.{key}", "未知字段（拼写错误？）")
        for key in sorted(required - set(value)):
            self.problem(f"{path}.{key}", "缺少必填字段")
        return value

    def text(self, node: dict[str, Any], key: str, path: str, pattern: re.Pattern[str] | None = None,
             hint: str = "") -> str | None:
        value = node.get(key)
        if key not in node:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{path}.{key}", "应为非空字符串")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(f"{path}.{key}", f"格式不正确{hint}：{value!r}")
            return None
        return value

    def param(self, kind: str, value: Any, path: str) -> Any:
        if kind == "bool":
            if not isinstance(value, bool):
                self.problem(path, "应为 true 或 false")
                return None
            return value
        if kind == "positive_int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.problem(path, "应为正整数")
                return None
            return value
        if kind in ("prefixes", "categories"):
            if not isinstance(value, list):
                self.problem(path, "应为字符串数组")
                return None
            items: list[str] = []
            for index, item in enumerate(value):
                if kind == "categories" and item not in CATEGORIES:
                    self.problem(f"{path}[{index}]", f"只能取 {'、'.join(CATEGORIES)}，实际为 {item!r}")
                elif kind == "prefixes" and (not isinstance(item, str) or not _CODE_PREFIX.fullmatch(item)):
                    self.problem(f"{path}[{index}]", f"应为项目编码或编码前缀，实际为 {item!r}")
                else:
                    items.append(item)
            return tuple(items)
        if kind == "counts":
            if not isinstance(value, dict):
                self.problem(path, "应为对象：编码前缀 → 正整数")
                return None
            counts: dict[str, int] = {}
            for key, count in value.items():
                if not _CODE_PREFIX.fullmatch(key):
                    self.problem(f"{path}.{key}", "应为项目编码或编码前缀")
                elif isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    self.problem(f"{path}.{key}", f"应为正整数，实际为 {count!r}")
                else:
                    counts[key] = count
            return counts
        raise AssertionError(kind)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PreauditConfigError(path, ["$: 文件不存在"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PreauditConfigError(path, [f"$: 无法读取（{exc}）"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreauditConfigError(path, [f"$: 不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}"]) from None


def parse_rules(document: Any, path: Path) -> dict[str, Rule]:
    c = _Checker()
    top = c.obj(document, "$", {"format", "rules"})
    if top is None:
        raise PreauditConfigError(path, c.problems)
    if "format" in top and top["format"] != RULES_FORMAT:
        c.problem("$.format", f"应为 {RULES_FORMAT!r}，实际为 {top['format']!r}")
    raw_rules = top.get("rules", [])
    if not isinstance(raw_rules, list):
        c.problem("$.rules", "应为 JSON 数组")
        raw_rules = []
    rules: dict[str, Rule] = {}
    for index, raw in enumerate(raw_rules):
        where = f"$.rules[{index}]"
        node = c.obj(raw, where, {"id", "title", "explanation", "advice", "source", "severity", "enabled", "params"})
        if node is None:
            continue
        rule_id = c.text(node, "id", where)
        if rule_id is not None and rule_id not in RULE_PARAMS:
            c.problem(f"{where}.id", f"未知的规则 {rule_id!r}；可用：{'、'.join(RULE_IDS)}")
            rule_id = None
        elif rule_id is not None and rule_id in rules:
            c.problem(f"{where}.id", f"规则 {rule_id} 重复")
            rule_id = None
        title = c.text(node, "title", where)
        explanation = c.text(node, "explanation", where)
        advice = c.text(node, "advice", where)
        source = c.text(node, "source", where, _SOURCE, "（应为种子条文，如 \"003 §15\"、\"000 附件9-2\"）")
        severity = node.get("severity")
        if "severity" in node and severity not in SEVERITIES:
            c.problem(f"{where}.severity", f"只能取 {'、'.join(SEVERITIES)}，实际为 {severity!r}")
            severity = None
        enabled = node.get("enabled")
        if "enabled" in node and not isinstance(enabled, bool):
            c.problem(f"{where}.enabled", "应为 true 或 false")
            enabled = None
        params: dict[str, Any] = {}
        if rule_id is not None and "params" in node:
            spec = RULE_PARAMS[rule_id]
            raw_params = c.obj(node["params"], f"{where}.params", set(spec))
            for name, kind in spec.items():
                if raw_params is not None and name in raw_params:
                    params[name] = c.param(kind, raw_params[name], f"{where}.params.{name}")
        if rule_id is None or None in (title, explanation, advice, source, severity, enabled) or None in params.values():
            continue
        rules[rule_id] = Rule(rule_id, title, explanation, advice, source, severity, enabled, params)  # type: ignore[arg-type]
    missing = [rule_id for rule_id in RULE_IDS if rule_id not in rules]
    if missing and not c.problems:
        c.problem("$.rules", f"缺少规则：{'、'.join(missing)}（停用请写 \"enabled\": false）")
    if c.problems:
        raise PreauditConfigError(path, c.problems)
    return {rule_id: rules[rule_id] for rule_id in RULE_IDS}


def parse_indications(document: Any, path: Path) -> tuple[Indication, ...]:
    c = _Checker()
    top = c.obj(document, "$", {"format", "indications"}, {"note"})
    if top is None:
        raise PreauditConfigError(path, c.problems)
    if "format" in top and top["format"] != INDICATIONS_FORMAT:
        c.problem("$.format", f"应为 {INDICATIONS_FORMAT!r}，实际为 {top['format']!r}")
    raw_entries = top.get("indications", [])
    if not isinstance(raw_entries, list):
        c.problem("$.indications", "应为 JSON 数组")
        raw_entries = []
    entries: list[Indication] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        where = f"$.indications[{index}]"
        node = c.obj(raw, where, {"drug", "diagnoses"}, {"name"})
        if node is None:
            continue
        drug = c.text(node, "drug", where, _CODE_PREFIX, "（应为药品编码或编码前缀）")
        name = c.text(node, "name", where) if "name" in node else ""
        if drug is not None and drug in seen:
            c.problem(f"{where}.drug", f"药品编码前缀 {drug} 重复（另见 $.indications[{seen[drug]}]）")
        elif drug is not None:
            seen[drug] = index
        diagnoses: list[str] = []
        raw_diagnoses = node.get("diagnoses")
        if "diagnoses" in node:
            if not isinstance(raw_diagnoses, list) or not raw_diagnoses:
                c.problem(f"{where}.diagnoses", "应为非空的 ICD-10 编码前缀数组")
            else:
                for position, code in enumerate(raw_diagnoses):
                    if not isinstance(code, str) or not _ICD_PREFIX.fullmatch(code):
                        c.problem(f"{where}.diagnoses[{position}]", f"应为 ICD-10 编码前缀（如 \"I10\"），实际为 {code!r}")
                    else:
                        diagnoses.append(code)
        if drug is not None and name is not None and diagnoses:
            entries.append(Indication(drug, name, tuple(diagnoses)))
    if c.problems:
        raise PreauditConfigError(path, c.problems)
    return tuple(entries)


def default_rules_path() -> Path:
    return resource_path("preaudit", "rules.json")


def default_indications_path() -> Path:
    return resource_path("preaudit", "indications.json")


def site_paths(config_dir: Path | None) -> tuple[Path, Path]:
    """The rules and indications files in force: the config folder's `preaudit/` copy when present."""
    rules, indications = default_rules_path(), default_indications_path()
    if config_dir is not None:
        site = config_dir / "preaudit"
        if (site / "rules.json").is_file():
            rules = site / "rules.json"
        if (site / "indications.json").is_file():
            indications = site / "indications.json"
    return rules, indications


def load_ruleset(rules_path: Path | None = None, indications_path: Path | None = None) -> RuleSet:
    """Read and validate both files (the shipped ones by default); raises PreauditConfigError."""
    rules_path = rules_path or default_rules_path()
    indications_path = indications_path or default_indications_path()
    return RuleSet(parse_rules(_read_json(rules_path), rules_path),
                   parse_indications(_read_json(indications_path), indications_path))


@lru_cache(maxsize=1)
def default_ruleset() -> RuleSet:
    """The shipped files, read once per process."""
    return load_ruleset()


def site_ruleset(config_dir: Path | None) -> RuleSet:
    """The rules in force at this site: the config folder's `preaudit/` copy when present (a reviewer's
    adjustment), else the shipped files, read once per process."""
    paths = site_paths(config_dir)
    if paths == (default_rules_path(), default_indications_path()):
        return default_ruleset()
    return load_ruleset(*paths)
