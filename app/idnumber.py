"""Citizen ID numbers (公民身份号码, GB 11643-1999), which are also the 社会保障号码."""

from __future__ import annotations

import datetime as dt
import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_FORMAT = re.compile(r"[0-9]{17}[0-9X]")


def check_character(first17: str) -> str:
    """The 18th character for the first 17 digits (ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def id_number_problem(id_number: str) -> str | None:
    """None when valid; otherwise what is wrong, in Chinese."""
    if not _FORMAT.fullmatch(id_number):
        return "身份证号码应为 18 位：17 位数字加 1 位数字或大写 X"
    try:
        birth_date(id_number)
    except ValueError:
        return f"身份证号码中的出生日期 {id_number[6:14]} 不是有效日期"
    expected = check_character(id_number[:17])
    if id_number[17] != expected:
        return f"身份证号码校验位错误：应为 {expected}，实际为 {id_number[17]}"
    return None


def birth_date(id_number: str) -> dt.date:
    return dt.datetime.strptime(id_number[6:14], "%Y%m%d").date()


def sex(id_number: str) -> str:
    """男 for an odd 17th digit, 女 for an even one."""
    return "男" if int(id_number[16]) % 2 == 1 else "女"
