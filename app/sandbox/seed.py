"""The sandbox centre's demo data set: institutions, workers, catalogue (`resources/sandbox/*.toml`).

Seeded once, when the sandbox's database is new. Dates in the seed may be relative to that
day (`"today-30"`), so the demo's filings are valid, expiring or expired whatever day the
sandbox is first started; `"none"` stands for no value (TOML has no null).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.errors import ConfigurationError
from app.idnumber import birth_date, id_number_problem, sex
from app.resources import resource_path
from app.rules.case import CARE_KINDS, CATEGORIES, FILING_CATEGORIES, FILING_STATUSES
from app.rules.profiles import profile_names

from app.sandbox import store

SEED_DIR = "sandbox"
_RELATIVE = re.compile(r"today(?:(?P<sign>[+-])(?P<days>[0-9]+))?")


@dataclass(frozen=True)
class InstitutionSeed:
    code: str
    name: str
    demo_key: str


def _load(name: str) -> dict[str, Any]:
    path = resource_path(SEED_DIR, name)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"沙箱中心种子数据 {path} 无法读取：{exc}") from exc


def _none(value: Any) -> Any:
    return None if value == "none" else value


def resolve_date(value: Any, today: dt.date, where: str) -> str | None:
    """ISO text of a seed date: absolute, "today±N", or "none"."""
    value = _none(value)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"沙箱种子数据 {where}：日期应为字符串，实际为 {value!r}")
    match = _RELATIVE.fullmatch(value)
    if match:
        days = int(match["days"] or 0) * (-1 if match["sign"] == "-" else 1)
        return (today + dt.timedelta(days=days)).isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise ConfigurationError(f"沙箱种子数据 {where}：无效日期 {value!r}") from exc


def institution_seeds() -> list[InstitutionSeed]:
    return [InstitutionSeed(i["code"], i["name"], i["demo_key"]) for i in _load("institutions.toml")["institution"]]


def seed_if_new(connection: sqlite3.Connection, today: dt.date) -> bool:
    """Fill a new database with the demo data set; False when it was seeded before."""
    with store.transaction(connection):
        if store.get_meta(connection, "seeded_on") is not None:
            return False
        _seed_institutions(connection)
        _seed_workers(connection, today)
        _seed_catalogue(connection)
        store.set_meta(connection, "seeded_on", today.isoformat())
    return True


def _seed_institutions(connection: sqlite3.Connection) -> None:
    for item in _load("institutions.toml")["institution"]:
        connection.execute(
            "INSERT INTO institution (code, name, province, city, city_code, level, direct_settlement) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item["code"], item["name"], item["province"], item["city"], item["city_code"], item["level"],
             int(bool(item["direct_settlement"]))))


def _seed_workers(connection: sqlite3.Connection, today: dt.date) -> None:
    profiles = set(profile_names())
    for index, worker in enumerate(_load("workers.toml")["worker"]):
        where = f"workers.toml worker[{index}] {worker.get('key', '')}"
        ssn = worker["social_security_number"]
        problem = id_number_problem(ssn)
        if problem:
            raise ConfigurationError(f"沙箱种子数据 {where}：{problem}")
        if worker["profile"] not in profiles:
            raise ConfigurationError(f"沙箱种子数据 {where}：未知的地区政策 {worker['profile']}")
        place = worker["insured_place"]
        connection.execute(
            "INSERT INTO person (ssn, seed_key, name, sex, birth_date, category, insured_province, insured_city, "
            "insured_city_code, profile, insurance_active, contribution_ok, status_text, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ssn, worker["key"], worker["name"], sex(ssn), birth_date(ssn).isoformat(), worker["category"],
             place["province"], place["city"], place["city_code"], worker["profile"],
             int(worker["insurance_active"]), int(worker["contribution_ok"]), worker["status_text"],
             worker.get("note", "")))
        card = worker.get("card")
        if card:
            connection.execute(
                "INSERT INTO card (number, ssn, generation, issuing_region, valid_until) VALUES (?, ?, ?, ?, ?)",
                (card["number"], ssn, card["generation"], card["issuing_region"],
                 resolve_date(card["valid_until"], today, where)))
        for token in worker.get("ecard_tokens", []):
            connection.execute("INSERT INTO ecard_token (token, ssn, valid_until) VALUES (?, ?, NULL)", (token, ssn))
        for recognition in worker.get("recognition", []):
            connection.execute(
                "INSERT INTO recognition (decision_no, ssn, kind, injury_date, decided_on, diagnoses) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (recognition["decision_no"], ssn, recognition["kind"],
                 resolve_date(recognition["injury_date"], today, where),
                 resolve_date(recognition["decided_on"], today, where),
                 json.dumps(recognition["diagnoses"], ensure_ascii=False)))
        for filing in worker.get("filing", []):
            insert_filing(connection, ssn, filing, today, where)
        for notice in worker.get("notice", []):
            insert_notice(connection, ssn, notice, today, where)


def insert_filing(connection: sqlite3.Connection, ssn: str, filing: dict[str, Any], today: dt.date,
                  where: str) -> str:
    """Add one filing (seed or admin call); ConfigurationError naming what is wrong."""
    try:
        category, status, care = filing["category"], filing["status"], filing["care"]
        destination = filing["destination"]
        if category not in FILING_CATEGORIES or status not in FILING_STATUSES:
            raise ConfigurationError(f"{where}：备案类别或状态无效")
        if not isinstance(care, list) or not care or any(kind not in CARE_KINDS for kind in care):
            raise ConfigurationError(f"{where}：备案就医类型应为 {CARE_KINDS} 中的一项或多项")
        approved_on = resolve_date(filing["approved_on"], today, where)
        row = (
            filing["id"], ssn, category, ",".join(care), destination["province"], destination["city"],
            destination["city_code"], _none(destination.get("institution_code")), approved_on,
            resolve_date(filing["valid_from"], today, where), resolve_date(filing.get("valid_to"), today, where),
            status, resolve_date(filing.get("terminated_on"), today, where),
            int(bool(filing.get("used_by_settlement", False))),
            resolve_date(filing.get("filed_on"), today, where) or approved_on,
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{where}：备案缺少字段或字段类型错误（{exc}）") from exc
    if None in (row[8], row[9]):
        raise ConfigurationError(f"{where}：备案需要 approved_on 和 valid_from")
    try:
        connection.execute(
            "INSERT INTO filing (id, ssn, category, care, dest_province, dest_city, dest_city_code, dest_institution, "
            "approved_on, valid_from, valid_to, status, terminated_on, used_by_settlement, filed_on) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    except sqlite3.IntegrityError as exc:
        raise ConfigurationError(f"{where}：备案编号 {filing['id']} 已存在或参保人不存在") from exc
    return str(filing["id"])


NOTICE_STATUSES = ("valid", "used", "cancelled")
_FIGURE = re.compile(r"[0-9]+(\.[0-9]+)?")


def insert_notice(connection: sqlite3.Connection, ssn: str, notice: dict[str, Any], today: dt.date, where: str,
                  *, replace: bool = False) -> str:
    """Add (or with `replace`, change) one 配置费用核付通知单 of the insured place (`001 §34`): its
    approved devices with the insured place's 最高支付限额 and 最低使用年限 (`000 §29`, `001 §15`)."""
    person = connection.execute("SELECT * FROM person WHERE ssn = ?", (ssn,)).fetchone()
    if person is None:
        raise ConfigurationError(f"{where}：参保人不存在")
    try:
        number, status, items = notice["notice_no"], notice.get("status", "valid"), notice["items"]
        issued = resolve_date(notice["issued"], today, where)
        valid_until = resolve_date(notice["valid_until"], today, where)
        if not isinstance(number, str) or not number.strip() or status not in NOTICE_STATUSES:
            raise ConfigurationError(f"{where}：通知单编号或状态（{'、'.join(NOTICE_STATUSES)}）无效")
        if issued is None or valid_until is None or valid_until < issued:
            raise ConfigurationError(f"{where}：通知单需要 issued 与不早于它的 valid_until")
        if not isinstance(items, list) or not items:
            raise ConfigurationError(f"{where}：通知单至少有一项辅助器具")
        clean = []
        for index, item in enumerate(items):
            if (not isinstance(item.get("code"), str) or not isinstance(item.get("name"), str)
                    or not _FIGURE.fullmatch(str(item.get("quantity"))) or not _FIGURE.fullmatch(str(item.get("max_pay")))
                    or isinstance(item.get("min_years"), bool) or not isinstance(item.get("min_years"), int)):
                raise ConfigurationError(f"{where}.items[{index}]：需要 code、name、quantity、max_pay（字符串小数）"
                                         "和 min_years（整数）")
            Decimal(str(item["max_pay"]))
            clean.append({"code": item["code"], "name": item["name"], "quantity": str(item["quantity"]),
                          "max_pay": str(Decimal(str(item["max_pay"])).quantize(Decimal("0.01"))),
                          "min_years": item["min_years"]})
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"{where}：通知单缺少字段或字段类型错误（{exc}）") from exc
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    try:
        connection.execute(
            f"{verb} INTO notice (notice_no, ssn, insured_province, insured_city, insured_city_code, issued, "
            "valid_until, status, used_by, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (number, ssn, person["insured_province"], person["insured_city"], person["insured_city_code"], issued,
             valid_until, status, str(notice.get("used_by") or ("（种子数据）" if status == "used" else "")),
             json.dumps(clean, ensure_ascii=False)))
    except sqlite3.IntegrityError as exc:
        raise ConfigurationError(f"{where}：通知单编号 {number} 已存在") from exc
    return number


def _seed_catalogue(connection: sqlite3.Connection) -> None:
    document = _load("catalogue.toml")
    version = int(document["version"])
    for index, entry in enumerate(document["entries"]):
        if entry["category"] not in CATEGORIES:
            raise ConfigurationError(f"沙箱种子数据 catalogue.toml entries[{index}]：未知类别 {entry['category']}")
        limits = [_none(entry.get("price_limit")), _none(entry.get("max_pay"))]
        for limit in limits:
            if limit is not None:
                Decimal(limit)  # a bad figure fails the seed, not a settlement later
        connection.execute(
            "INSERT INTO catalogue (code, name, category, unit, price_limit, max_pay, per_day, min_years, valid, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (entry["code"], entry["name"], entry["category"], entry["unit"], limits[0], limits[1],
             int(bool(entry.get("per_day", False))), _none(entry.get("min_years")), version))
    store.set_meta(connection, "catalogue_version", str(version))


def change_catalogue(connection: sqlite3.Connection, entries: Any) -> int:
    """A new catalogue version: add, change or withdraw (`"valid": false`) entries; returns the version.

    What an agency's catalogue update does; the counter's versioned download (1301) picks it up."""
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError("entries 应为非空数组")
    rows = []
    for index, entry in enumerate(entries):
        where = f"entries[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str) or not entry["code"]:
            raise ConfigurationError(f"{where}：需要 code")
        if entry.get("category") not in CATEGORIES or not isinstance(entry.get("name"), str):
            raise ConfigurationError(f"{where}：需要 name 和 category（{'、'.join(CATEGORIES)}）")
        limits = []
        for key in ("price_limit", "max_pay"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value)):
                raise ConfigurationError(f"{where}.{key}：应为字符串形式的小数或 null")
            limits.append(value)
        min_years = entry.get("min_years")
        if min_years is not None and (isinstance(min_years, bool) or not isinstance(min_years, int)):
            raise ConfigurationError(f"{where}.min_years：应为整数或 null")
        rows.append((entry["code"], entry["name"], entry["category"], str(entry.get("unit", "")), limits[0], limits[1],
                     int(bool(entry.get("per_day", False))), min_years, int(entry.get("valid", True) is not False)))
    with store.transaction(connection):
        version = int(store.get_meta(connection, "catalogue_version") or 0) + 1
        for row in rows:
            connection.execute(
                "INSERT INTO catalogue (code, name, category, unit, price_limit, max_pay, per_day, min_years, valid, "
                "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name, "
                "category = excluded.category, unit = excluded.unit, price_limit = excluded.price_limit, "
                "max_pay = excluded.max_pay, per_day = excluded.per_day, min_years = excluded.min_years, "
                "valid = excluded.valid, version = excluded.version", (*row, version))
        store.set_meta(connection, "catalogue_version", str(version))
    return version
