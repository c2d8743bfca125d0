"""One stay's facts, and the strict reader of the case file `wi-counter-case/1`.

The case file is validated completely before anything is computed: every problem is
collected with its JSON path (`$.items[3].amount`) and reported at once; an invalid
case never gives a partial answer (`../shared/CASES.md`). Money and quantities are
strings holding decimals, so that no float ever touches money.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

from app.errors import WiCounterError
from app.idnumber import id_number_problem
from app.institution import InstitutionInfo
from app.rules.profiles import Profile, load_profile, profile_names

FORMAT = "wi-counter-case/1"
CARE_KINDS = ("medical", "rehab", "device")
CATEGORIES = ("drug", "treatment", "consumable", "rehab", "device")
FILING_CATEGORIES = ("long_term_residence", "long_term_work", "referral")
FILING_STATUSES = ("active", "cancelled", "terminated")
STAGES = ("admission", "discharge")
CENT = Decimal("0.01")

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# No stay's money or quantity comes near this; beyond it a figure is a typing error, and products of such
# figures would outgrow Decimal's 28 digits (quantize raises InvalidOperation) — found by tests/fuzz.
MAX_MAGNITUDE = Decimal("1e9")


def round_money(value: Decimal) -> Decimal:
    """Half-up to the fen, as the slip rounds each line; never a negative zero."""
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else Decimal("0.00")


# --- the facts -----------------------------------------------------------------------

MUNICIPALITIES = ("北京", "天津", "上海", "重庆")  # 直辖市: province and city are one place
_MUNICIPAL_CITY_PARTS = ("", "市辖区", "县")  # what a code table may put in the city of a municipality


def place_name(province: str, city: str) -> str:
    """A place as printed and shown: 广东省 + 广州市 → 广东省广州市; a municipality reads once
    (北京市 + 北京市 → 北京市, never 北京市北京市). Every form, slip, chart and message joins places here."""
    province, city = province.strip(), city.strip()
    if province == city or not city:
        return province
    for name in MUNICIPALITIES:
        if province.startswith(name) and (city.startswith(name) or city in _MUNICIPAL_CITY_PARTS):
            return f"{name}市"
    return f"{province}{city}"


@dataclass(frozen=True)
class Place:
    province: str
    city: str
    city_code: str

    @property
    def name(self) -> str:
        return place_name(self.province, self.city)


@dataclass(frozen=True)
class WorkerFacts:
    name: str
    sex: str
    id_number: str
    category: str
    insured_place: Place
    insurance_active: bool
    contribution_ok: bool


@dataclass(frozen=True)
class NamedDiagnosis:
    code: str
    name: str


@dataclass(frozen=True)
class RecognitionFacts:
    decision_no: str
    injury_date: dt.date
    diagnoses: tuple[NamedDiagnosis, ...]


@dataclass(frozen=True)
class Destination:
    province: str
    city: str
    city_code: str
    institution_code: str | None


@dataclass(frozen=True)
class FilingFacts:
    id: str
    category: str
    care: frozenset[str]
    destination: Destination
    approved_on: dt.date
    valid_from: dt.date
    valid_to: dt.date | None
    status: str
    terminated_on: dt.date | None
    used_by_settlement: bool
    filed_on: dt.date


@dataclass(frozen=True)
class StayDiagnosis:
    code: str
    name: str
    injury: bool


@dataclass(frozen=True)
class StayFacts:
    care: str
    admission_no: str
    dept: str
    registration_no: str | None
    admitted: dt.date
    discharged: dt.date | None
    settled: dt.date | None
    emergency: bool
    third_party_liability: bool
    diagnoses: tuple[StayDiagnosis, ...]


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str
    category: str
    price_limit: Decimal | None
    max_pay: Decimal | None
    per_day: bool


@dataclass(frozen=True)
class ChargeItem:
    seq: int
    code: str
    name: str
    category: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    diagnosis: str | None
    injury: bool | None
    refund_of: int | None
    date: dt.date


@dataclass(frozen=True)
class Case:
    profile: Profile
    institution: InstitutionInfo
    worker: WorkerFacts
    recognition: RecognitionFacts | None
    filing: FilingFacts | None
    stay: StayFacts
    catalogue: tuple[CatalogueEntry, ...]
    items: tuple[ChargeItem, ...]


# --- problems ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidCase(WiCounterError):
    """The case file is not a valid `wi-counter-case/1`; every problem is listed."""

    def __init__(self, problems: list[Problem], unclassified: list[int] | None = None) -> None:
        self.problems = problems
        self.unclassified = unclassified or []
        lines = "\n".join(f"  {p.path}: {p.message}" for p in problems)
        super().__init__(f"病例文件无效，共 {len(problems)} 处问题：\n{lines}")


class _Reader:
    """Walks the JSON document, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def obj(self, value: Any, path: str, required: set[str], optional: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, f"应为 JSON 对象，实际为 {_kind(value)}")
            return None
        for key in sorted(set(value) - required - optional):
            self.problem(f"{path}.{key}", "未知字段（拼写错误？）")
        for key in sorted(required - set(value)):
            self.problem(f"{path}.{key}", "缺少必填字段")
        return value

    def text(self, node: dict[str, Any], key: str, path: str, *, optional: bool = False,
             nullable: bool = False, default: str | None = None, pattern: str | None = None,
             hint: str = "") -> Any:
        value = node.get(key, default) if optional else node.get(key)
        where = f"{path}.{key}"
        if value is None:
            if nullable or (optional and key not in node):
                return None
            if key in node:
                self.problem(where, "不能为空（null）")
            return None
        if not isinstance(value, str):
            self.problem(where, f"应为字符串，实际为 {_kind(value)}")
            return None
        if not value.strip():
            self.problem(where, "不能为空字符串")
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(where, f"格式不正确{hint}：{value!r}")
            return None
        return value

    def flag(self, node: dict[str, Any], key: str, path: str, *, default: bool | None = None,
             nullable: bool = False) -> Any:
        if key not in node:
            return default
        value = node[key]
        if value is None and nullable:
            return None
        if not isinstance(value, bool):
            self.problem(f"{path}.{key}", f"应为 true 或 false，实际为 {_kind(value)}")
            return None
        return value

    def _present(self, node: dict[str, Any], key: str, where: str, nullable: bool, optional: bool,
                 expected: str) -> bool:
        """True when the field holds a value to read; absent or null is reported unless allowed."""
        if key not in node:
            return False  # a missing required field was reported by obj() already
        if node[key] is None:
            if not nullable:
                self.problem(where, f"不能为空（null），应为{expected}")
            return False
        return True

    def date(self, node: dict[str, Any], key: str, path: str, *, nullable: bool = False,
             optional: bool = False) -> Any:
        where = f"{path}.{key}"
        if not self._present(node, key, where, nullable, optional, " YYYY-MM-DD 日期"):
            return None
        value = node[key]
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            self.problem(where, f"应为 YYYY-MM-DD 格式的日期字符串，实际为 {value!r}")
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.problem(where, f"不是有效日期：{value!r}")
            return None

    def decimal(self, node: dict[str, Any], key: str, path: str, *, nullable: bool = False,
                optional: bool = False) -> Any:
        where = f"{path}.{key}"
        if not self._present(node, key, where, nullable, optional, "字符串形式的小数"):
            return None
        value = node[key]
        if isinstance(value, bool) or isinstance(value, int | float):
            self.problem(where, f"金额和数量必须写成字符串（如 \"12.50\"），不能是 JSON 数字：{value!r}")
            return None
        if not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
            self.problem(where, f"应为字符串形式的小数（如 \"12.50\"），实际为 {value!r}")
            return None
        number = Decimal(value)
        if abs(number) >= MAX_MAGNITUDE:
            self.problem(where, f"数值过大（绝对值应小于 {MAX_MAGNITUDE:f}）：{_shortened(value)}")
            return None
        return number

    def choice(self, node: dict[str, Any], key: str, path: str, choices: tuple[str, ...]) -> Any:
        value = node.get(key)
        if value is None and key not in node:
            return None
        if value not in choices:
            self.problem(f"{path}.{key}", f"只能取 {'、'.join(choices)}，实际为 {value!r}")
            return None
        return value

    def array(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.problem(path, f"应为 JSON 数组，实际为 {_kind(value)}")
            return []
        return value


T = TypeVar("T")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "布尔值"
    if isinstance(value, int | float):
        return f"数字 {value!r}"
    if isinstance(value, str):
        return f"字符串 {value!r}"
    if isinstance(value, list):
        return "数组"
    if isinstance(value, dict):
        return "对象"
    return type(value).__name__


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…（共 {len(text)} 个字符）"


def _each(reader: _Reader, values: list[Any], path: str, parse: Callable[[Any, str], T | None]) -> list[T]:
    parsed = []
    for index, value in enumerate(values):
        item = parse(value, f"{path}[{index}]")
        if item is not None:
            parsed.append(item)
    return parsed


# --- parsing -------------------------------------------------------------------------


def _place(r: _Reader, value: Any, path: str) -> Place | None:
    node = r.obj(value, path, {"province", "city", "city_code"}, set())
    if node is None:
        return None
    province = r.text(node, "province", path)
    city = r.text(node, "city", path)
    city_code = r.text(node, "city_code", path, pattern=r"[0-9]{6}", hint="（应为 6 位行政区划代码）")
    if None in (province, city, city_code):
        return None
    return Place(province, city, city_code)


def _institution(r: _Reader, value: Any, path: str) -> InstitutionInfo | None:
    node = r.obj(value, path, {"code", "name", "province", "city", "city_code"}, {"level", "direct_settlement"})
    if node is None:
        return None
    parts = (
        r.text(node, "code", path),
        r.text(node, "name", path),
        r.text(node, "province", path),
        r.text(node, "city", path),
        r.text(node, "city_code", path, pattern=r"[0-9]{6}", hint="（应为 6 位行政区划代码）"),
    )
    level = r.text(node, "level", path, optional=True, default="")  or ""
    direct = r.flag(node, "direct_settlement", path, default=True)
    if None in parts or direct is None:
        return None
    return InstitutionInfo(*parts, level=level, direct_settlement=direct)


def _worker(r: _Reader, value: Any, path: str) -> WorkerFacts | None:
    node = r.obj(value, path, {"name", "sex", "id_number", "insured_place"},
                 {"category", "insurance_active", "contribution_ok"})
    if node is None:
        return None
    name = r.text(node, "name", path)
    sex = r.choice(node, "sex", path, ("男", "女"))
    id_number = r.text(node, "id_number", path)
    if id_number is not None:
        problem = id_number_problem(id_number)
        if problem:
            r.problem(f"{path}.id_number", problem)
            id_number = None
    category = r.text(node, "category", path, optional=True, default="在职")
    insured = _place(r, node.get("insured_place"), f"{path}.insured_place") if "insured_place" in node else None
    active = r.flag(node, "insurance_active", path, default=True)
    contribution = r.flag(node, "contribution_ok", path, default=True)
    if None in (name, sex, id_number, category, insured, active, contribution):
        return None
    return WorkerFacts(name, sex, id_number, category, insured, active, contribution)  # type: ignore[arg-type]


def _named_diagnosis(r: _Reader, value: Any, path: str) -> NamedDiagnosis | None:
    node = r.obj(value, path, {"code", "name"}, set())
    if node is None:
        return None
    code, name = r.text(node, "code", path), r.text(node, "name", path)
    return None if None in (code, name) else NamedDiagnosis(code, name)


def _recognition(r: _Reader, value: Any, path: str) -> RecognitionFacts | None:
    node = r.obj(value, path, {"decision_no", "injury_date", "diagnoses"}, set())
    if node is None:
        return None
    decision_no = r.text(node, "decision_no", path)
    injury_date = r.date(node, "injury_date", path)
    diagnoses = _each(r, r.array(node.get("diagnoses", []), f"{path}.diagnoses"), f"{path}.diagnoses",
                      lambda v, p: _named_diagnosis(r, v, p))
    if None in (decision_no, injury_date):
        return None
    return RecognitionFacts(decision_no, injury_date, tuple(diagnoses))


def _destination(r: _Reader, value: Any, path: str) -> Destination | None:
    node = r.obj(value, path, {"province", "city", "city_code"}, {"institution_code"})
    if node is None:
        return None
    province = r.text(node, "province", path)
    city = r.text(node, "city", path)
    city_code = r.text(node, "city_code", path, pattern=r"[0-9]{6}", hint="（应为 6 位行政区划代码）")
    institution_code = r.text(node, "institution_code", path, optional=True, nullable=True)
    if None in (province, city, city_code):
        return None
    return Destination(province, city, city_code, institution_code)


def _filing(r: _Reader, value: Any, path: str) -> FilingFacts | None:
    node = r.obj(value, path, {"id", "category", "care", "destination", "approved_on", "valid_from", "valid_to",
                               "status"}, {"terminated_on", "used_by_settlement", "filed_on"})
    if node is None:
        return None
    filing_id = r.text(node, "id", path)
    category = r.choice(node, "category", path, FILING_CATEGORIES)
    care_values = r.array(node.get("care", []), f"{path}.care")
    care: set[str] = set()
    for index, kind in enumerate(care_values):
        if kind not in CARE_KINDS:
            r.problem(f"{path}.care[{index}]", f"只能取 {'、'.join(CARE_KINDS)}，实际为 {kind!r}")
        else:
            care.add(kind)
    if "care" in node and not care_values:
        r.problem(f"{path}.care", "至少应包含一种就医类型")
    destination = _destination(r, node.get("destination"), f"{path}.destination") if "destination" in node else None
    approved_on = r.date(node, "approved_on", path)
    valid_from = r.date(node, "valid_from", path)
    valid_to = r.date(node, "valid_to", path, nullable=True)
    status = r.choice(node, "status", path, FILING_STATUSES)
    terminated_on = r.date(node, "terminated_on", path, nullable=True, optional=True)
    used = r.flag(node, "used_by_settlement", path, default=False)
    filed_on = r.date(node, "filed_on", path, nullable=True, optional=True) or approved_on
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        r.problem(f"{path}.valid_to", f"有效期截止日 {valid_to} 早于起始日 {valid_from}")
    if None in (filing_id, category, destination, approved_on, valid_from, status, used, filed_on) or not care:
        return None
    return FilingFacts(filing_id, category, frozenset(care), destination, approved_on, valid_from,  # type: ignore[arg-type]
                       valid_to, status, terminated_on, used, filed_on)


def _stay_diagnosis(r: _Reader, value: Any, path: str) -> StayDiagnosis | None:
    node = r.obj(value, path, {"code", "name", "injury"}, set())
    if node is None:
        return None
    code, name = r.text(node, "code", path), r.text(node, "name", path)
    injury = r.flag(node, "injury", path)
    return None if None in (code, name, injury) else StayDiagnosis(code, name, injury)


def _stay(r: _Reader, value: Any, path: str) -> StayFacts | None:
    node = r.obj(value, path, {"care", "admitted"},
                 {"admission_no", "dept", "registration_no", "discharged", "settled", "emergency",
                  "third_party_liability", "diagnoses"})
    if node is None:
        return None
    care = r.choice(node, "care", path, CARE_KINDS)
    admission_no = r.text(node, "admission_no", path, optional=True, default="")
    dept = r.text(node, "dept", path, optional=True, default="")
    registration_no = r.text(node, "registration_no", path, optional=True, nullable=True)
    admitted = r.date(node, "admitted", path)
    discharged = r.date(node, "discharged", path, nullable=True, optional=True)
    settled = r.date(node, "settled", path, nullable=True, optional=True)
    emergency = r.flag(node, "emergency", path, default=False)
    third_party = r.flag(node, "third_party_liability", path, default=False)
    diagnoses = _each(r, r.array(node.get("diagnoses", []), f"{path}.diagnoses"), f"{path}.diagnoses",
                      lambda v, p: _stay_diagnosis(r, v, p))
    codes = [d.code for d in diagnoses]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        r.problem(f"{path}.diagnoses", f"诊断 {code} 重复")
    if admitted is not None and discharged is not None and discharged < admitted:
        r.problem(f"{path}.discharged", f"出院日期 {discharged} 早于入院日期 {admitted}")
    if discharged is not None and settled is not None and settled < discharged:
        r.problem(f"{path}.settled", f"结算日期 {settled} 早于出院日期 {discharged}")
    elif admitted is not None and settled is not None and settled < admitted:
        r.problem(f"{path}.settled", f"结算日期 {settled} 早于入院日期 {admitted}")
    if None in (care, admitted, emergency, third_party):
        return None
    return StayFacts(care, admission_no or "", dept or "", registration_no, admitted, discharged, settled,  # type: ignore[arg-type]
                     emergency, third_party, tuple(diagnoses))


def _catalogue_entry(r: _Reader, value: Any, path: str) -> CatalogueEntry | None:
    node = r.obj(value, path, {"code", "name", "category"}, {"price_limit", "max_pay", "per_day"})
    if node is None:
        return None
    code, name = r.text(node, "code", path), r.text(node, "name", path)
    category = r.choice(node, "category", path, CATEGORIES)
    price_limit = r.decimal(node, "price_limit", path, nullable=True, optional=True)
    max_pay = r.decimal(node, "max_pay", path, nullable=True, optional=True)
    per_day = r.flag(node, "per_day", path, default=False)
    for key, limit in (("price_limit", price_limit), ("max_pay", max_pay)):
        if limit is not None and limit < 0:
            r.problem(f"{path}.{key}", f"限价不能为负数：{limit}")
    if None in (code, name, category, per_day):
        return None
    return CatalogueEntry(code, name, category, price_limit, max_pay, per_day)


_ITEM_REQUIRED = frozenset({"seq", "code", "name", "category", "quantity", "unit_price", "amount", "date"})
_ITEM_KEYS = _ITEM_REQUIRED | {"diagnosis", "injury", "refund_of"}
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _plain_item(value: Any) -> ChargeItem | None:
    """A plainly well-formed item read in one go, else None (then `_item` reads it field by field and
    names every problem). Accepts only what `_item` accepts without a problem, giving the same item: a
    centre settling 20,000 lines reads each one while the patient waits at the window."""
    if type(value) is not dict or not _ITEM_REQUIRED <= value.keys() <= _ITEM_KEYS:
        return None
    seq, code, name, category = value["seq"], value["code"], value["name"], value["category"]
    diagnosis, injury, refund_of, day = value.get("diagnosis"), value.get("injury"), value.get("refund_of"), value["date"]
    if (type(seq) is not int or seq < 1 or type(code) is not str or not code.strip() or type(name) is not str
            or not name.strip() or category not in CATEGORIES
            or (diagnosis is not None and (type(diagnosis) is not str or not diagnosis.strip()))
            or (injury is not None and type(injury) is not bool) or (refund_of is not None and type(refund_of) is not int)
            or type(day) is not str or not _DATE_TEXT.fullmatch(day)):
        return None
    numbers = []
    for key in ("quantity", "unit_price", "amount"):
        text = value[key]
        if type(text) is not str or not _DECIMAL_TEXT.fullmatch(text):
            return None
        number = Decimal(text)
        if abs(number) >= MAX_MAGNITUDE:
            return None
        numbers.append(number)
    quantity, unit_price, amount = numbers
    if (unit_price < 0 or quantity == 0 or (quantity < 0 and refund_of is None) or (quantity > 0 and refund_of is not None)
            or amount != amount.quantize(CENT) or amount != round_money(quantity * unit_price)):
        return None
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        return None
    return ChargeItem(seq, code, name, category, quantity, unit_price, amount, diagnosis, injury, refund_of, date)


def _item(r: _Reader, value: Any, path: str) -> ChargeItem | None:
    plain = _plain_item(value)
    return plain if plain is not None else _read_item(r, value, path)


def _read_item(r: _Reader, value: Any, path: str) -> ChargeItem | None:
    node = r.obj(value, path, {"seq", "code", "name", "category", "quantity", "unit_price", "amount", "date"},
                 {"diagnosis", "injury", "refund_of"})
    if node is None:
        return None
    seq = node.get("seq")
    if "seq" in node and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
        r.problem(f"{path}.seq", f"应为正整数，实际为 {_kind(seq)}")
        seq = None
    code, name = r.text(node, "code", path), r.text(node, "name", path)
    category = r.choice(node, "category", path, CATEGORIES)
    quantity = r.decimal(node, "quantity", path)
    unit_price = r.decimal(node, "unit_price", path)
    amount = r.decimal(node, "amount", path)
    diagnosis = r.text(node, "diagnosis", path, optional=True, nullable=True)
    injury = r.flag(node, "injury", path, nullable=True)
    refund_of = node.get("refund_of")
    if refund_of is not None and (isinstance(refund_of, bool) or not isinstance(refund_of, int)):
        r.problem(f"{path}.refund_of", f"应为被退费明细的 seq（整数）或 null，实际为 {_kind(refund_of)}")
        refund_of = None
    date = r.date(node, "date", path)
    if unit_price is not None and unit_price < 0:
        r.problem(f"{path}.unit_price", f"单价不能为负数：{unit_price}；退费请用负数量，并用 refund_of 指明原明细")
    if quantity is not None:
        if quantity == 0:
            r.problem(f"{path}.quantity", "数量不能为零")
        elif quantity < 0 and node.get("refund_of") is None:
            r.problem(f"{path}.quantity", "数量为负的退费明细必须用 refund_of 指明原明细")
        elif quantity > 0 and refund_of is not None:
            r.problem(f"{path}.quantity", "退费明细的数量应为负数")
    if amount is not None and amount != amount.quantize(CENT):
        r.problem(f"{path}.amount", f"金额最多两位小数：{node['amount']!r}")
    elif None not in (amount, quantity, unit_price) and amount != round_money(quantity * unit_price):
        r.problem(f"{path}.amount",
                  f"金额 {node['amount']} 不等于 数量 × 单价 = {round_money(quantity * unit_price)}（四舍五入到分）")
    injury_invalid = injury is None and node.get("injury") is not None  # reported by flag()
    if None in (seq, code, name, category, quantity, unit_price, amount, date) or injury_invalid:
        return None
    return ChargeItem(seq, code, name, category, quantity, unit_price, amount, diagnosis, injury, refund_of, date)  # type: ignore[arg-type]


def _check_refunds(r: _Reader, items: list[ChargeItem], positions: dict[int, int]) -> None:
    by_seq = {item.seq: item for item in items}
    net: dict[int, Decimal] = {}
    for item in sorted(items, key=lambda i: i.seq):
        if item.refund_of is None:
            continue
        where = f"$.items[{positions[item.seq]}].refund_of"
        original = by_seq.get(item.refund_of)
        if original is None:
            r.problem(where, f"退费指向的原明细 seq {item.refund_of} 不存在")
        elif original.refund_of is not None:
            r.problem(where, f"退费应指向原明细，seq {item.refund_of} 本身是退费明细")
        elif original.code != item.code:
            r.problem(where, f"退费项目编码 {item.code} 与原明细 seq {original.seq} 的编码 {original.code} 不同")
        elif original.seq >= item.seq:
            r.problem(where, f"退费应指向在它之前的明细（seq 小于 {item.seq}），实际指向 seq {original.seq}")
        elif original.unit_price != item.unit_price:
            # At another price a refund would move money between the fund and the worker (CASES.md).
            r.problem(f"$.items[{positions[item.seq]}].unit_price",
                      f"退费单价 {item.unit_price} 与原明细 seq {original.seq} 的单价 {original.unit_price} 不同；"
                      "退费只能按原单价退，价格有误请先更正原明细")
            r.problem(where, f"所退原明细 seq {original.seq} 的单价为 {original.unit_price}，与本退费单价不同")
        else:
            net[original.seq] = net.get(original.seq, original.quantity) + item.quantity
            if net[original.seq] < 0:
                r.problem(f"$.items[{positions[item.seq]}].quantity",
                          f"退费后原明细 seq {original.seq} 的净数量为 {net[original.seq]}，小于零")


def parse_case(document: Any) -> Case:
    """Read a decoded case file; raise InvalidCase listing every problem."""
    r = _Reader()
    top = r.obj(document, "$", {"format", "profile", "institution", "worker", "stay"},
                {"recognition", "filing", "catalogue", "items"})
    if top is None:
        raise InvalidCase(r.problems)
    if top.get("format") != FORMAT and "format" in top:
        r.problem("$.format", f"应为 {FORMAT!r}，实际为 {top.get('format')!r}")
    profile: Profile | None = None
    if "profile" in top:
        name = top["profile"]
        if not isinstance(name, str) or name not in profile_names():
            r.problem("$.profile", f"未知的地区政策 {name!r}；可用：{'、'.join(profile_names())}")
        else:
            profile = load_profile(name)
    institution = _institution(r, top.get("institution"), "$.institution") if "institution" in top else None
    worker = _worker(r, top.get("worker"), "$.worker") if "worker" in top else None
    recognition = _recognition(r, top["recognition"], "$.recognition") if top.get("recognition") is not None else None
    filing = _filing(r, top["filing"], "$.filing") if top.get("filing") is not None else None
    stay = _stay(r, top.get("stay"), "$.stay") if "stay" in top else None
    catalogue = _each(r, r.array(top.get("catalogue", []), "$.catalogue"), "$.catalogue",
                      lambda v, p: _catalogue_entry(r, v, p))
    raw_items = r.array(top.get("items", []), "$.items")
    items = _each(r, raw_items, "$.items", lambda v, p: _item(r, v, p))

    codes = [e.code for e in catalogue]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        r.problem("$.catalogue", f"目录编码 {code} 重复")
    positions: dict[int, int] = {}
    for index, raw in enumerate(raw_items):
        seq = raw.get("seq") if isinstance(raw, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool):
            if seq in positions:
                r.problem(f"$.items[{index}].seq", f"seq {seq} 重复（另见 $.items[{positions[seq]}]）")
            else:
                positions[seq] = index
    _check_refunds(r, items, positions)
    if recognition is not None and stay is not None and recognition.injury_date > stay.admitted:
        r.problem("$.recognition.injury_date", f"受伤日期 {recognition.injury_date} 晚于入院日期 {stay.admitted}")

    if r.problems:
        raise InvalidCase(r.problems)
    assert profile and institution and worker and stay  # every None above recorded a problem
    return Case(profile, institution, worker, recognition, filing, stay, tuple(catalogue), tuple(items))


def read_case_file(path: Path) -> Case:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WiCounterError(f"找不到病例文件 {path}") from None
    except OSError as exc:  # not a bad case file: no file to judge (exit 1, not 2)
        raise WiCounterError(f"无法读取病例文件 {path}：{exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCase([Problem("$", f"病例文件应为 UTF-8 编码（第 {exc.start} 字节处无法解码）")]) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidCase([Problem("$", f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}")]) from None
    except _RefusedConstant as exc:
        raise InvalidCase([Problem("$", str(exc))]) from None
    except ValueError:  # Python refuses integers of more than 4300 digits (int_max_str_digits)
        raise InvalidCase([Problem("$", "JSON 中的整数过长（超过 4300 位），不是病例文件")]) from None
    except RecursionError:  # hostile nesting: the decoder would exhaust the stack
        raise InvalidCase([Problem("$", "JSON 嵌套层数过多，不是病例文件")]) from None
    return parse_case(document)


class _RefusedConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _RefusedConstant(f"JSON 中不允许 {name}")


def require_settled(case: Case) -> None:
    """`check --stage discharge` and `settle` need the discharge settlement date."""
    if case.stay.settled is None:
        raise InvalidCase([Problem("$.stay.settled", "出院结算需要结算日期（stay.settled），不能为空")])
