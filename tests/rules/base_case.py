"""A valid Guangdong intra-province case (the CASES.md example), to copy and vary in tests."""

from __future__ import annotations

import copy
from typing import Any

from app.rules.case import Case, parse_case

_BASE: dict[str, Any] = {
    "format": "wi-counter-case/1",
    "profile": "guangdong-intra",
    "institution": {"code": "H44080100001", "name": "湛江市第一人民医院", "province": "广东省", "city": "湛江市",
                    "city_code": "440800", "level": "三级", "direct_settlement": True},
    "worker": {"name": "姚某某", "sex": "女", "id_number": "440802198001011233", "category": "在职",
               "insured_place": {"province": "广东省", "city": "广州市", "city_code": "440100"},
               "insurance_active": True, "contribution_ok": True},
    "recognition": {"decision_no": "穗人社工认〔2020〕1234号", "injury_date": "2020-09-20",
                    "diagnoses": [{"code": "S62.300", "name": "掌骨骨折"}]},
    "filing": {"id": "BA440100202009210001", "category": "referral", "care": ["medical", "rehab"],
               "destination": {"province": "广东省", "city": "湛江市", "city_code": "440800", "institution_code": None},
               "approved_on": "2020-09-21", "valid_from": "2020-09-21", "valid_to": "2021-03-20",
               "status": "active", "terminated_on": None, "used_by_settlement": False, "filed_on": "2020-09-21"},
    "stay": {"care": "medical", "admission_no": "016357002", "dept": "骨关节病区",
             "registration_no": "sa000d20201117000001",
             "admitted": "2020-09-22", "discharged": "2020-11-11", "settled": "2020-11-17",
             "emergency": False, "third_party_liability": False,
             "diagnoses": [{"code": "S62.300", "name": "掌骨骨折", "injury": True},
                           {"code": "I10", "name": "原发性高血压", "injury": False}]},
    "catalogue": [
        {"code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "price_limit": "0.50", "max_pay": None},
        {"code": "XJ01DC02", "name": "头孢呋辛钠注射液", "category": "drug", "price_limit": "10.00", "max_pay": None},
        {"code": "110900001", "name": "床位费", "category": "treatment", "price_limit": "50.00", "max_pay": None,
         "per_day": True},
        {"code": "C1301", "name": "接骨板", "category": "consumable", "price_limit": None, "max_pay": None},
        {"code": "K0101", "name": "作业疗法", "category": "rehab", "price_limit": None, "max_pay": None},
        {"code": "F0301", "name": "腋拐", "category": "device", "price_limit": None, "max_pay": "120.00"},
    ],
    "items": [
        {"seq": 1, "code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "quantity": "30",
         "unit_price": "0.50", "amount": "15.00", "diagnosis": "I10", "injury": None, "refund_of": None,
         "date": "2020-09-23"},
    ],
}


def base_case() -> dict[str, Any]:
    return copy.deepcopy(_BASE)


def item(seq: int, code: str, category: str, quantity: str, unit_price: str, amount: str, *,
         diagnosis: str | None = "S62.300", injury: bool | None = None, refund_of: int | None = None,
         name: str = "项目", date: str = "2020-09-25") -> dict[str, Any]:
    return {"seq": seq, "code": code, "name": name, "category": category, "quantity": quantity,
            "unit_price": unit_price, "amount": amount, "diagnosis": diagnosis, "injury": injury,
            "refund_of": refund_of, "date": date}


def parsed(document: dict[str, Any]) -> Case:
    return parse_case(document)
