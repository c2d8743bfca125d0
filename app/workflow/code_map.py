"""The hospital's item codes matched to the catalogue's (目录对照, `003 §27`), table `his_code_map`.

The centre keeps the catalogue; the hospital's HIS has its own item codes. The program
keeps the mapping: a row says which catalogue code a HIS code is, or (catalogue code
None) that the clerk confirmed the item is outside the catalogue (自费, the patient must
be told, `003 §15`). Without a row, a HIS code that is itself a valid catalogue code
matches; anything else is unmatched and flagged for the clerk before settlement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app import audit
from app.db.models import CatalogueItem, ChargeLine, HisCodeMap, Stay
from app.operators import OperatorInfo, Permission, require
from app.workflow.catalogue import catalogue_categories, chunks
from app.workflow.common import WorkflowError
from app.workflow.his_import import OPEN_STATUSES

MATCHED = "matched"
SELF_PAY = "self_pay"  # confirmed outside the catalogue
UNMATCHED = "unmatched"
STATUS_LABELS = {MATCHED: "已对照", SELF_PAY: "目录外（已确认）", UNMATCHED: "未对照"}


@dataclass(frozen=True)
class CodeMatch:
    catalogue_code: str | None
    status: str  # "matched" | "self_pay" (confirmed 目录外) | "unmatched"


def match_codes(session: Session, his_codes: Iterable[str]) -> dict[str, CodeMatch]:
    """Each HIS code's catalogue code: the mapping row first, then a HIS code that is a valid catalogue code."""
    codes = set(his_codes)
    result: dict[str, CodeMatch] = {}
    for batch in chunks(sorted(codes)):
        for his_code, catalogue_code in session.execute(
                select(HisCodeMap.his_code, HisCodeMap.catalogue_code).where(HisCodeMap.his_code.in_(batch))):
            result[his_code] = CodeMatch(catalogue_code, MATCHED if catalogue_code is not None else SELF_PAY)
    rest = sorted(codes - set(result))
    for batch in chunks(rest):
        for (code,) in session.execute(
                select(CatalogueItem.code).where(CatalogueItem.code.in_(batch), CatalogueItem.valid.is_(True))):
            result[code] = CodeMatch(code, MATCHED)
    for code in codes - set(result):
        result[code] = CodeMatch(None, UNMATCHED)
    return result


def set_mapping(session: Session, actor: OperatorInfo, counter_name: str, his_code: str, catalogue_code: str | None,
                note: str = "") -> int:
    """Map a HIS code (catalogue_code None: confirmed outside the catalogue); audited.

    Re-matches this code's lines not yet uploaded in open stays; returns how many such lines now follow
    the mapping (a line confirmed outside the catalogue keeps its empty code but becomes 自费: it counts).
    """
    require(actor, Permission.IMPORT_CHARGES)
    his_code = his_code.strip()
    if not his_code:
        raise WorkflowError("请填写 HIS 项目编码。")
    if catalogue_code is not None:
        catalogue_code = catalogue_code.strip()
        item = session.scalars(select(CatalogueItem).where(CatalogueItem.code == catalogue_code)).first()
        if item is None or not item.valid:
            raise WorkflowError(f"目录中没有有效的编码 {catalogue_code}：请核对，或先更新目录。")
    his_name = session.scalars(select(ChargeLine.name).where(ChargeLine.his_code == his_code).limit(1)).first()
    row = session.scalars(select(HisCodeMap).where(HisCodeMap.his_code == his_code)).first()
    before = None if row is None else {"catalogue_code": row.catalogue_code, "note": row.note}
    if row is None:
        row = HisCodeMap(his_code=his_code, his_name=his_name, catalogue_code=catalogue_code, note=note or None,
                         updated_by=actor.id)
        session.add(row)
    else:
        row.catalogue_code = catalogue_code
        row.note = note or None
        row.updated_by = actor.id
        if his_name and not row.his_name:
            row.his_name = his_name
    session.flush()
    open_stays = select(Stay.id).where(Stay.status.in_(OPEN_STATUSES))
    pending = and_(ChargeLine.his_code == his_code, ChargeLine.uploaded_at.is_(None), ChargeLine.stay_id.in_(open_stays))
    differs = ChargeLine.code.is_not(None) if catalogue_code is None else or_(
        ChargeLine.code.is_(None), ChargeLine.code != catalogue_code)
    changed = cast(CursorResult[Any], session.execute(update(ChargeLine).where(pending, differs).values(code=catalogue_code)
                              .execution_options(synchronize_session="fetch"))).rowcount
    if catalogue_code is not None:
        # A line without a category takes the catalogue's.
        category = catalogue_categories(session, [catalogue_code]).get(catalogue_code)
        if category is not None:
            session.execute(update(ChargeLine).where(pending, ChargeLine.category.is_(None)).values(category=category)
                            .execution_options(synchronize_session="fetch"))
    following = session.scalar(select(func.count()).select_from(ChargeLine).where(pending))
    audit.record(session, "his_code_mapped", operator_id=actor.id, counter_name=counter_name,
                 entity_type="his_code_map", entity_id=his_code,
                 detail={"his_code": his_code, "before": before,
                         "after": {"catalogue_code": catalogue_code, "note": note or None}, "lines_changed": changed})
    return int(following or 0)


def rematch_catalogue_codes(session: Session, codes: Iterable[str]) -> int:
    """After a catalogue update: pending lines of open stays whose HIS code is now a valid catalogue code
    (and has no mapping row) take it, with its category when they have none. Returns lines changed."""
    valid = sorted(catalogue_categories(session, codes).items())
    if not valid:
        return 0
    open_stays = select(Stay.id).where(Stay.status.in_(OPEN_STATUSES))
    mapped = select(HisCodeMap.his_code)
    changed = 0
    for code, category in valid:
        pending = and_(ChargeLine.his_code == code, ChargeLine.code.is_(None), ChargeLine.uploaded_at.is_(None),
                       ChargeLine.stay_id.in_(open_stays), ChargeLine.his_code.not_in(mapped))
        session.execute(update(ChargeLine).where(pending, ChargeLine.category.is_(None)).values(category=category)
                        .execution_options(synchronize_session="fetch"))
        changed += cast(CursorResult[Any], session.execute(
            update(ChargeLine).where(pending).values(code=code)
            .execution_options(synchronize_session="fetch"))).rowcount or 0
    return changed


def unmatched_lines(session: Session, stay_id: int) -> list[int]:
    """The stay's charge_line ids still unmatched, in seq order.

    Unmatched: no catalogue code, and the HIS code is not confirmed outside the catalogue. (A line
    uploaded before its code was mapped stays unmatched: it is refunded and entered again.)
    """
    mapped = select(HisCodeMap.his_code).where(HisCodeMap.catalogue_code.is_(None))
    return list(session.scalars(
        select(ChargeLine.id).where(ChargeLine.stay_id == stay_id, ChargeLine.code.is_(None),
                                    ChargeLine.his_code.not_in(mapped)).order_by(ChargeLine.seq)))


def line_match_status(session: Session, stay_id: int) -> dict[int, str]:
    """Each line of the stay: "matched", "self_pay" or "unmatched" (for the charges page)."""
    self_pay = set(session.scalars(select(HisCodeMap.his_code).where(HisCodeMap.catalogue_code.is_(None))))
    return {line_id: MATCHED if code is not None else SELF_PAY if his_code in self_pay else UNMATCHED
            for line_id, code, his_code in session.execute(
                select(ChargeLine.id, ChargeLine.code, ChargeLine.his_code).where(ChargeLine.stay_id == stay_id))}


@dataclass(frozen=True)
class UnmatchedCode:
    his_code: str
    name: str
    lines: int


def unmatched_codes(session: Session, stay_id: int) -> list[UnmatchedCode]:
    """The stay's HIS codes still unmatched, with a name and how many lines use each (to map them one by one)."""
    found: dict[str, UnmatchedCode] = {}
    mapped = select(HisCodeMap.his_code).where(HisCodeMap.catalogue_code.is_(None))
    for his_code, name in session.execute(
            select(ChargeLine.his_code, ChargeLine.name).where(
                ChargeLine.stay_id == stay_id, ChargeLine.code.is_(None), ChargeLine.his_code.not_in(mapped))
            .order_by(ChargeLine.seq)):
        known = found.get(his_code)
        found[his_code] = UnmatchedCode(his_code, name, 1 if known is None else known.lines + 1)
    return list(found.values())
