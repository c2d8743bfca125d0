"""The agreement institution (协议机构) as plain facts: used by the rules, the first run and the UI."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class InstitutionInfo:
    code: str
    name: str
    province: str
    city: str
    city_code: str
    level: str
    direct_settlement: bool = True

    def problems(self) -> list[str]:
        """What a clerk must correct before this institution can be saved, in Chinese."""
        found: list[str] = []
        if not re.fullmatch(r"[A-Za-z0-9]{12}", self.code):
            found.append("机构编码应为 12 位字母或数字")
        if not self.name.strip():
            found.append("请填写医疗机构名称")
        if not self.province.strip() or not self.city.strip():
            found.append("请填写机构所在省份和城市")
        if not re.fullmatch(r"\d{6}", self.city_code):
            found.append("城市行政区划代码应为 6 位数字")
        if not self.level.strip():
            found.append("请填写医院等级")
        return found
