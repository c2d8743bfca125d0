"""The link to the centre as the status bar shows it (no Qt here: the bar runs `probe` off the GUI thread).

A probe is one short `GET /health` (connect timeout ~1.5 s; a refused connection fails at once),
so an unreachable centre is reported within seconds, never after a 30-second freeze. When the
centre is reachable and outbox entries are open, the probe resolves them first: on start the
counter settles every unknown outcome before it takes new work.

The monitor is handed the way to open its client (`app.composition.open_counter_centre`, which
carries the program's appliers), so that this service needs nothing above it.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import WiCounterError
from app.recovery import recover_at_start, recover_local
from app.workflow.admission import centre_today
from app.workflow.discharge import note_fault_cleared

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.centre.client import CentreClient

log = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    ONLINE = "online"
    ONLINE_WITH_OPEN = "online_with_open"  # reachable, but some outcomes still unresolved
    OFFLINE = "offline"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class CentreLink:
    state: LinkState
    url: str
    detail: str  # why offline / not configured (Chinese)
    open_entries: int
    since: dt.datetime | None
    queued_entries: int = 0
    recovered: str = ""  # what start-up recovery did (Chinese, for the clerk); empty: nothing


class CentreMonitor:
    def __init__(self, ctx: CounterContext, open_client: Callable[[CounterContext], CentreClient]) -> None:
        self._ctx = ctx
        self._open_client = open_client
        self._client: CentreClient | None = None
        self._lock = threading.Lock()  # one probe at a time
        self._local_recovered = False  # the slip archive and claims are looked at once, at start

    def _ensure_client(self) -> CentreClient:
        if self._client is None:
            self._client = self._open_client(self._ctx)
        return self._client

    def probe(self) -> CentreLink:
        with self._lock:
            try:
                client = self._ensure_client()
            except WiCounterError as exc:
                return CentreLink(LinkState.NOT_CONFIGURED, "", exc.message, 0, None)
            status = client.check()
            recovered = ""
            try:
                if status.reachable and status.open_entries:
                    # Start-up recovery (`app.recovery`): open outcomes first, then what they left.
                    recovered = recover_at_start(self._ctx, client, local=not self._local_recovered).summary
                    self._local_recovered = True
                    status = client.status()
                elif not self._local_recovered:
                    recovered = recover_local(self._ctx).summary
                    self._local_recovered = True
            except WiCounterError as exc:
                log.warning("处理未确定的结算中心交易时出错：%s", exc.message)
            if recovered:
                log.warning("%s", recovered)
            if status.reachable:
                self._note_fault_cleared()
            if not status.reachable:
                return CentreLink(LinkState.OFFLINE, status.url, status.error, status.open_entries, status.since,
                                  status.queued_entries, recovered)
            state = LinkState.ONLINE_WITH_OPEN if status.open_entries else LinkState.ONLINE
            return CentreLink(state, status.url, "", status.open_entries, status.since, status.queued_entries,
                              recovered)

    def _note_fault_cleared(self) -> None:
        """The centre answers: stays paid in full while it did not learn the day the fault cleared,
        the day their 补登记 is due in Guangdong (`003 §17`)."""
        try:
            with self._ctx.transaction() as session:
                stamped = note_fault_cleared(session, centre_today())
        except WiCounterError as exc:
            log.warning("记录故障排除日期时出错：%s", exc.message)
            return
        if stamped:
            log.info("结算中心已恢复：%d 张全额垫付收据待补登记（故障排除当日办理，003 §17）", stamped)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
