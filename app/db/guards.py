"""Records that may only grow: settlements and the audit trail are never edited or deleted.

Reversal is a new record (a cancellation settlement, a new audit event). These ORM
hooks stop the program itself from breaking that rule by mistake; the audit chain
(`app.audit`) detects anyone who edits the database behind the program's back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper

from app.db.models import AuditEvent, Settlement, SettlementLine, SettlementMatrixCell
from app.errors import ImmutableRecordError

APPEND_ONLY: tuple[type[Any], ...] = (Settlement, SettlementMatrixCell, SettlementLine, AuditEvent)

_LABELS = {
    Settlement: "结算记录",
    SettlementMatrixCell: "结算金额表",
    SettlementLine: "结算明细",
    AuditEvent: "审计日志",
}


def _refuse_update(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    raise ImmutableRecordError(f"{_LABELS[type(target)]}不可修改；如需更正，请做撤销（新增冲销记录）。")


def _refuse_delete(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    raise ImmutableRecordError(f"{_LABELS[type(target)]}不可删除。")


def install() -> None:
    for model in APPEND_ONLY:
        if not event.contains(model, "before_update", _refuse_update):
            event.listen(model, "before_update", _refuse_update)
            event.listen(model, "before_delete", _refuse_delete)


install()
