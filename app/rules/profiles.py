"""Policy profiles (地区政策): each region's parameters, as data, with their sources.

A profile is a TOML file in `resources/profiles/`. Every parameter carries the seed
article it rests on. The rule code asks the profile; it never tests a region's name.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from typing import Any

from app.errors import ConfigurationError
from app.resources import resource_path

PROFILE_DIR = "profiles"


@dataclass(frozen=True)
class Parameter:
    value: Any
    source: str


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    description: str
    settlement_kind: str
    requires_filing: bool
    requires_direct_settlement_institution: bool
    checks_contribution: bool
    referral_window_days: int
    one_time_referral: bool
    emergency_backfiling: bool
    long_term_validity_months: int
    referral_validity_months: int
    monthly_claim_day: int
    detail_upload_working_days: int
    dispute_working_days: int
    sources: dict[str, str] = field(default_factory=dict)  # parameter name → article
    reason_sources: dict[str, str] = field(default_factory=dict)  # reason code → article

    def source_of(self, parameter: str) -> str:
        return self.sources[parameter]


_PARAMETERS: dict[str, type] = {
    "settlement_kind": str,
    "requires_filing": bool,
    "requires_direct_settlement_institution": bool,
    "checks_contribution": bool,
    "referral_window_days": int,
    "one_time_referral": bool,
    "emergency_backfiling": bool,
    "long_term_validity_months": int,
    "referral_validity_months": int,
    "monthly_claim_day": int,
    "detail_upload_working_days": int,
    "dispute_working_days": int,
}


def _parse(name: str, document: dict[str, Any]) -> Profile:
    where = f"地区政策文件 {name}.toml"
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for parameter, kind in _PARAMETERS.items():
        entry = document.get(parameter)
        if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
            raise ConfigurationError(f"{where}：参数 {parameter} 应写成 {{ value = …, source = \"…\" }}")
        if type(entry["value"]) is not kind or not isinstance(entry["source"], str) or not entry["source"]:
            raise ConfigurationError(f"{where}：参数 {parameter} 的值或出处不正确")
        values[parameter] = entry["value"]
        sources[parameter] = entry["source"]
    reason_sources = document.get("reason_sources", {})
    if not isinstance(reason_sources, dict) or not all(isinstance(v, str) for v in reason_sources.values()):
        raise ConfigurationError(f"{where}：[reason_sources] 应为 原因代码 = \"出处\"")
    if document.get("name") != name:
        raise ConfigurationError(f"{where}：name 应为 {name}")
    return Profile(
        name=name,
        title=str(document.get("title", name)),
        description=str(document.get("description", "")),
        sources=sources,
        reason_sources=dict(reason_sources),
        **values,
    )


@functools.cache
def load_profile(name: str) -> Profile:
    path = resource_path(PROFILE_DIR) / f"{name}.toml"  # the folder is shipped; the name is the case file's
    if not path.is_file():
        raise ConfigurationError(f"没有名为 {name} 的地区政策；可用：{'、'.join(profile_names())}")
    with path.open("rb") as handle:
        return _parse(name, tomllib.load(handle))


def profile_names() -> list[str]:
    return sorted(p.stem for p in resource_path(PROFILE_DIR).glob("*.toml"))
