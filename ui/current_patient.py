"""The window's one current patient: the worker the centre just found, and that worker's open stay.

The main window owns one `CurrentPatient`. The 入院登记 page sets it when a lookup at the centre
succeeds (card, e-card or a typed number) and clears it when one fails; the 读卡 page clears it
when a card cannot be read or an e-card is not known; 下一位 clears it. The 读卡, 入院登记,
费用与伤病分离 and 出院结算 pages follow `changed`, so every page shows the same person and no
page keeps the previous one (issue 20: a refused lookup left the previous worker registrable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from app.bootstrap import CounterContext
from app.masking import mask_id_number
from ui.operations import Operation
from ui.qt import QObject, Signal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.workflow.stays import StaySummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Patient:
    """Who is at the counter. The full number finds the worker's stays; it is shown and logged masked."""

    social_security_number: str
    name: str
    stay: StaySummary | None = None  # the worker's open stay (在院, 待结算, 待补登记), once looked up
    stay_known: bool = False  # False while the open stay is still being looked up

    @property
    def masked_id(self) -> str:
        return mask_id_number(self.social_security_number)

    @property
    def stay_id(self) -> int | None:
        return self.stay.stay_id if self.stay is not None else None


class CurrentPatient(QObject):
    """Emits `changed(Patient | None)` on the GUI thread: at once when the worker changes or is
    cleared, and again when the worker's open stay is known."""

    changed = Signal(object)

    def __init__(self, ctx: CounterContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._patient: Patient | None = None
        self._generation = 0  # a stay lookup answering after the worker changed is dropped

    @property
    def patient(self) -> Patient | None:
        return self._patient

    def is_worker(self, social_security_number: str) -> bool:
        return self._patient is not None and self._patient.social_security_number == social_security_number

    def set_worker(self, social_security_number: str, name: str) -> None:
        """A lookup at the centre found this worker: theirs from now on, then their open stay."""
        self._generation += 1
        if not self.is_worker(social_security_number):
            self._patient = Patient(social_security_number, name)
            log.info("当前患者：%s", mask_id_number(social_security_number))
            self.changed.emit(self._patient)
        self._find_open_stay(social_security_number, self._generation)

    def refresh_stay(self) -> None:
        """The worker's stays changed here (admitted, settled): look their open stay up again."""
        if self._patient is not None:
            self._generation += 1
            self._find_open_stay(self._patient.social_security_number, self._generation)

    def clear(self) -> None:
        """Nobody at the counter: a failed lookup, another card that could not be read, 下一位."""
        self._generation += 1
        if self._patient is not None:
            self._patient = None
            log.info("当前患者已清除")
            self.changed.emit(None)

    def _find_open_stay(self, social_security_number: str, generation: int) -> None:
        def work(session: Session) -> StaySummary | None:
            from app.workflow.stays import open_stay_of_worker

            return open_stay_of_worker(session, social_security_number)

        Operation.transaction(self, self._ctx, work).success(
            lambda stay: self._stay_found(stay, generation)).failure(
            lambda error: self._stay_failed(error, generation)).run()

    def _stay_found(self, stay: StaySummary | None, generation: int) -> None:
        if generation != self._generation or self._patient is None:
            return  # another worker (or nobody) since
        self._patient = replace(self._patient, stay=stay, stay_known=True)
        self.changed.emit(self._patient)

    def _stay_failed(self, error: BaseException, generation: int) -> None:
        # The worker stays current; the pages simply show no stay (the clerk can pick one).
        log.warning("未能查找当前患者的住院：%s", getattr(error, "message", type(error).__name__))
        self._stay_found(None, generation)
