"""The local copy of the centre's catalogue (工伤保险目录, `003 §3`, `003 §27`), table `catalogue_item`.

The centre keeps the catalogue; the counter downloads what changed since its local
version (pages of 500), withdrawn entries arriving as `valid = False`. The preview
prices lines by it and the HIS import takes a line's category from it when the HIS
file has none. The demo counter seeds it from the sandbox centre's data set.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.db.models import CatalogueItem, ChargeCategory, utc_now
from app.resources import resource_path
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient
    from app.centre.gateway import CatalogueEntry

log = logging.getLogger(__name__)

PAGE_SIZE = 500
_CATALOGUE = cast(Table, CatalogueItem.__table__)
CHUNK = 500  # codes per IN (...) list


def chunks(values: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def local_version(session: Session) -> int:
    return int(session.scalar(select(func.max(CatalogueItem.version))) or 0)


def catalogue_entries(session: Session, codes: Iterable[str] | None = None) -> dict[str, CatalogueItem]:
    """Valid catalogue entries by code (all of them, or those of `codes`)."""
    query = select(CatalogueItem).where(CatalogueItem.valid.is_(True))
    if codes is None:
        return {item.code: item for item in session.scalars(query)}
    found: dict[str, CatalogueItem] = {}
    for batch in chunks(sorted(set(codes))):
        found.update((item.code, item) for item in session.scalars(query.where(CatalogueItem.code.in_(batch))))
    return found


SEARCH_MAX_CHARS = 64
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class CatalogueMatch:
    """One valid catalogue entry found by `search_catalogue` (what the 目录对照 dialog lists)."""

    code: str
    name: str
    category: ChargeCategory
    unit: str | None
    price_limit: Decimal | None


def search_catalogue(session: Session, text: str, limit: int = SEARCH_LIMIT) -> list[CatalogueMatch]:
    """Valid entries whose name contains every word of `text`, or whose code starts with it: the clerk
    maps a HIS item by what it is called, not by a code typed from memory (`003 §27`).

    Codes that match come first, then names, shortest name first (the plainest item). At most `limit`."""
    words = text.strip()[:SEARCH_MAX_CHARS].split()
    if not words:
        return []
    escaped = [word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for word in words]
    by_code = CatalogueItem.code.ilike(f"{escaped[0]}%", escape="\\") if len(words) == 1 else None
    by_name = [CatalogueItem.name.ilike(f"%{word}%", escape="\\") for word in escaped]
    matches = and_(*by_name) if by_code is None else or_(by_code, and_(*by_name))
    code_first = case((CatalogueItem.code == words[0], 0), else_=1)
    query = (select(CatalogueItem.code, CatalogueItem.name, CatalogueItem.category, CatalogueItem.unit,
                    CatalogueItem.price_limit)
             .where(CatalogueItem.valid.is_(True), matches)
             .order_by(code_first, func.length(CatalogueItem.name), CatalogueItem.code).limit(limit))
    return [CatalogueMatch(code, name, category, unit, price) for code, name, category, unit, price in session.execute(query)]


def catalogue_categories(session: Session, codes: Iterable[str]) -> dict[str, ChargeCategory]:
    """The category of each valid catalogue code (columns only: quick for a big import)."""
    found: dict[str, ChargeCategory] = {}
    for batch in chunks(sorted(set(codes))):
        found.update((code, category) for code, category in session.execute(
            select(CatalogueItem.code, CatalogueItem.category)
            .where(CatalogueItem.valid.is_(True), CatalogueItem.code.in_(batch))))
    return found


def _category(value: str, code: str) -> ChargeCategory:
    try:
        return ChargeCategory(value)
    except ValueError:
        raise WorkflowError(f"目录条目 {code} 的类别“{value}”未知，目录未更新。") from None


def _row(entry: CatalogueEntry) -> dict[str, Any]:
    return {"code": entry.code, "name": entry.name[:128], "category": _category(entry.category, entry.code),
            "unit": entry.unit[:16] or None, "price_limit_e4": entry.price_limit, "max_pay_e4": entry.max_pay,
            "per_day": entry.per_day, "min_years": entry.min_years, "valid": entry.valid, "version": entry.version,
            "fetched_at": utc_now()}


def store_entries(session: Session, entries: Iterable[CatalogueEntry]) -> int:
    """Insert or update entries by code (bulk); returns how many were written."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        rows[entry.code] = _row(entry)  # a later page's entry for the same code wins
    if not rows:
        return 0
    existing: dict[str, int] = {}
    for batch in chunks(sorted(rows)):
        existing.update((code, item_id) for code, item_id in session.execute(
            select(CatalogueItem.code, CatalogueItem.id).where(CatalogueItem.code.in_(batch))))
    table = _CATALOGUE
    new = [row for code, row in rows.items() if code not in existing]
    if new:
        session.execute(insert(table), new)
    if len(new) < len(rows):
        # Bind names must differ from the column names in an UPDATE ... SET.
        columns = [c for c in next(iter(rows.values())) if c != "code"]
        session.execute(
            update(table).where(table.c.id == bindparam("item_id"))
            .values({column: bindparam(f"new_{column}") for column in columns}),
            [{"item_id": existing[code], **{f"new_{c}": row[c] for c in columns}}
             for code, row in rows.items() if code in existing],
        )
    return len(rows)


def sync_catalogue(ctx: CounterContext, client: CentreClient) -> int:
    """Download what changed since the local version (every page), then store it in one transaction."""
    with ctx.transaction() as session:
        since = local_version(session)
    first = client.download_catalogue(since, 1, PAGE_SIZE)
    entries: list[CatalogueEntry] = list(first.entries)
    for page in range(2, first.pages + 1):
        entries.extend(client.download_catalogue(since, page, PAGE_SIZE).entries)
    if len(entries) != first.total:
        # The centre changed its catalogue between pages: take nothing half, try again later.
        raise WorkflowError(f"目录下载不完整（应有 {first.total} 条，收到 {len(entries)} 条），请稍后重新更新目录。")
    from app.workflow.code_map import rematch_catalogue_codes

    with ctx.transaction() as session:
        written = store_entries(session, entries)
        # A HIS code that has just become a catalogue code matches now (`003 §27`).
        rematched = rematch_catalogue_codes(session, [e.code for e in entries if e.valid])
    log.info("目录已更新：版本 %s → %s，%s 条变更，%s 条明细重新对照", since, first.version, written, rematched)
    return written


def seed_demo_catalogue(session: Session) -> int:
    """The demo counter: its copy of the centre's catalogue (`resources/demo/catalogue.toml`) when the table is empty."""
    if session.scalar(select(func.count()).select_from(CatalogueItem)):
        return 0
    with resource_path("demo", "catalogue.toml").open("rb") as handle:
        document = tomllib.load(handle)
    version = int(document["version"])

    def figure(value: object) -> Decimal | None:
        return None if value in (None, "none") else Decimal(str(value))

    rows = [{"code": e["code"], "name": e["name"], "category": ChargeCategory(e["category"]),
             "unit": e.get("unit") or None, "price_limit_e4": figure(e.get("price_limit")),
             "max_pay_e4": figure(e.get("max_pay")), "per_day": bool(e.get("per_day", False)),
             "min_years": None if e.get("min_years") in (None, "none") else int(e["min_years"]),
             "valid": True, "version": version, "fetched_at": utc_now()}
            for e in document["entries"]]
    session.execute(insert(_CATALOGUE), rows)
    return len(rows)
