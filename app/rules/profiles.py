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
    on_the_spot_filing: bool
    long_term_validity_months: int
    referral_validity_months: int
    monthly_claim_day: int  # the hospital's day of the next month; 0: no fixed day (及时, `000 §31`)
    detail_upload_working_days: int  # 0: real time (实时, `002 经办规程 §17`)
    dispute_working_days: int  # 0: the seed sets no dispute window (`002 经办规程 §23`)
    slip_template: str  # the printed slip's template (`printing.templates`): each region its own form
    # Optional (0 where the seed sets none): the agency's own monthly date, shown as the agency's
    # (`000 §31`, `001 §33`); the days to complete the 病案首页 after settlement (`003 §16`).
    agency_month_day: int = 0
    medical_record_days: int = 0
    # 补登记 of a stay paid in full is due the day the fault clears (Guangdong, 003 §17); optional.
    backfill_on_fault_cleared: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # parameter name → article
    reason_sources: dict[str, str] = field(default_factory=dict)  # reason code → article
    # reason code (or "CODE.admission" / "CODE.discharge") → the clerk's next step in this region
    next_steps: dict[str, str] = field(default_factory=dict)

    def source_of(self, parameter: str) -> str:
        return self.sources[parameter]

    def next_step(self, code: str, stage: str) -> str:
        """What the counter does next for `code` at `stage`, as true in this region ("" when none is set)."""
        return self.next_steps.get(f"{code}.{stage}") or self.next_steps.get(code, "")

    def validity_months(self, category: str) -> int:
        """The seed's validity length of a filing of `category` (0: the seed fixes none)."""
        return self.referral_validity_months if category == "referral" else self.long_term_validity_months


_PARAMETERS: dict[str, type] = {
    "settlement_kind": str,
    "requires_filing": bool,
    "requires_direct_settlement_institution": bool,
    "checks_contribution": bool,
    "referral_window_days": int,
    "one_time_referral": bool,
    "emergency_backfiling": bool,
    "on_the_spot_filing": bool,
    "long_term_validity_months": int,
    "referral_validity_months": int,
    "monthly_claim_day": int,
    "detail_upload_working_days": int,
    "dispute_working_days": int,
    "slip_template": str,
}
# Parameters only some regions' seeds set: absent means the field's default (0 / False: none).
_OPTIONAL_PARAMETERS: dict[str, type] = {
    "agency_month_day": int,
    "medical_record_days": int,
    "backfill_on_fault_cleared": bool,
}


def _parse(name: str, document: dict[str, Any]) -> Profile:
    where = f"地区政策文件 {name}.toml"
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for parameter, kind in (_PARAMETERS | _OPTIONAL_PARAMETERS).items():
        entry = document.get(parameter)
        if entry is None and parameter in _OPTIONAL_PARAMETERS:
            continue
        if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
            raise ConfigurationError(f"{where}：参数 {parameter} 应写成 {{ value = …, source = \"…\" }}")
        if type(entry["value"]) is not kind or not isinstance(entry["source"], str) or not entry["source"]:
            raise ConfigurationError(f"{where}：参数 {parameter} 的值或出处不正确")
        values[parameter] = entry["value"]
        sources[parameter] = entry["source"]
    reason_sources = document.get("reason_sources", {})
    if not isinstance(reason_sources, dict) or not all(isinstance(v, str) for v in reason_sources.values()):
        raise ConfigurationError(f"{where}：[reason_sources] 应为 原因代码 = \"出处\"")
    next_steps = document.get("next_steps", {})
    if not isinstance(next_steps, dict) or not all(
            isinstance(v, str) and v.strip() for v in next_steps.values()):
        raise ConfigurationError(f"{where}：[next_steps] 应为 原因代码 = \"下一步\"（或 \"原因代码.admission\" = …）")
    for key in next_steps:
        stage = key.partition(".")[2]
        if stage not in ("", "admission", "discharge"):
            raise ConfigurationError(f"{where}：[next_steps] 的 {key} 只能写 原因代码 或 原因代码.admission / .discharge")
    if document.get("name") != name:
        raise ConfigurationError(f"{where}：name 应为 {name}")
    return Profile(
        name=name,
        title=str(document.get("title", name)),
        description=str(document.get("description", "")),
        sources=sources,
        reason_sources=dict(reason_sources),
        next_steps=dict(next_steps),
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
