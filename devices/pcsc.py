"""PC/SC through pyscard: the only module in the program that imports pyscard.

Uses pyscard's thin `smartcard.scard` layer (the PC/SC API itself) so that every PC/SC
result code maps to one card error, and reader changes are awaited with
`SCardGetStatusChange` instead of polling. One `PcscBackend` holds one PC/SC context; PC/SC
contexts are not meant to be shared between threads, and `devices.monitor` makes every
call from its one device thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from app.card_identity import CardError, CardNotResponding, CardRemoved, NoCard, ReaderNotFound
from devices.transport import CardTransport, ReaderBackend, ReaderState, trace_exchange

try:
    from smartcard import scard
except ImportError:  # pragma: no cover - pyscard is a runtime dependency; say so plainly if missing
    scard = None

log = logging.getLogger(__name__)

CARD_GONE_WAIT_MS = 800
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"  # a pseudo-reader: changes when readers come and go


def _require_pyscard() -> Any:
    if scard is None:
        raise ReaderNotFound("未安装 pyscard")
    return scard


def _error_text(code: int) -> str:
    """The clerk's detail: the PC/SC code (which IT looks up); the system's own text goes to the log only.
    It is English from pcsc-lite, and may be nothing at all (Wine's winscard gave "None")."""
    number = f"0x{code & 0xFFFFFFFF:08X}"
    try:
        system_text = scard.SCardGetErrorMessage(code)
    except Exception:  # noqa: BLE001 - only for the log
        system_text = None
    log.info("PC/SC %s: %s", number, system_text or "(no text)")
    return f"读卡器返回代码 {number}"


def _card_error(code: int) -> CardError:
    """The clerk's error for a PC/SC result code."""
    s = scard
    if code in (s.SCARD_E_NO_SERVICE, s.SCARD_E_SERVICE_STOPPED):
        return ReaderNotFound("智能卡服务未运行")
    if code in (s.SCARD_E_NO_READERS_AVAILABLE, s.SCARD_E_UNKNOWN_READER, s.SCARD_E_READER_UNAVAILABLE):
        return ReaderNotFound()
    if code == s.SCARD_E_NO_SMARTCARD:
        return NoCard()
    if code in (s.SCARD_W_REMOVED_CARD, s.SCARD_W_RESET_CARD, s.SCARD_E_INVALID_HANDLE):
        return CardRemoved()
    return CardNotResponding(_error_text(code))


class PcscTransport(CardTransport):
    def __init__(self, context: int, card: int, protocol: int, reader: str) -> None:
        self._context = context
        self._card: int | None = card
        self._protocol = protocol
        self._reader = reader
        self._owner = threading.get_ident()

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if threading.get_ident() != self._owner:
            raise RuntimeError("PC/SC card handle used outside the thread that connected it")
        if self._card is None:
            raise CardRemoved()
        code, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if code != scard.SCARD_S_SUCCESS:
            error = _card_error(code)
            raise CardRemoved() if isinstance(error, CardNotResponding) and self._card_gone() else error
        if len(response) < 2:
            raise CardRemoved() if self._card_gone() else CardNotResponding("回复不足两字节")
        data = bytes(response[:-2])
        sw = (response[-2] << 8) | response[-1]
        trace_exchange(self._reader, apdu, data, sw)
        return data, sw

    def _card_gone(self) -> bool:
        """After a failed exchange: was the card pulled? The reader driver may notice only on
        its next presence poll (pcscd polls some readers every 400 ms), so wait that long."""
        present = scard.SCARD_STATE_PRESENT
        code, states = scard.SCardGetStatusChange(self._context, 0, [(self._reader, scard.SCARD_STATE_UNAWARE)])
        if code != scard.SCARD_S_SUCCESS:
            return True
        state = states[0][1] & ~scard.SCARD_STATE_CHANGED
        if not state & present:
            return True
        code, states = scard.SCardGetStatusChange(self._context, CARD_GONE_WAIT_MS, [(self._reader, state)])
        return code == scard.SCARD_S_SUCCESS and not states[0][1] & present

    def close(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            code = scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            if code != scard.SCARD_S_SUCCESS:
                log.debug("释放卡片连接：%s", _error_text(code))


class PcscBackend(ReaderBackend):
    """Readers through the platform's smart-card service (pcscd, Windows SCardSvr)."""

    def __init__(self) -> None:
        s = _require_pyscard()
        code, context = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
        if code != s.SCARD_S_SUCCESS:
            raise _card_error(code)
        self._context: int | None = context
        self._pnp_state = s.SCARD_STATE_UNAWARE
        self._events: dict[str, int] = {}
        self._owner = threading.get_ident()

    def _check_thread(self) -> None:
        # Electrum's runs_in_hwd_thread: one PC/SC context, one thread (devices/monitor.py).
        if threading.get_ident() != self._owner:
            raise RuntimeError("PC/SC context used outside the thread that created it")

    @property
    def context(self) -> int:
        self._check_thread()
        if self._context is None:
            raise ReaderNotFound("读卡器连接已关闭")
        return self._context

    def list_readers(self) -> list[str]:
        code, readers = scard.SCardListReaders(self.context, [])
        if code in (scard.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        if code != scard.SCARD_S_SUCCESS:
            raise _card_error(code)
        return list(readers)

    def connect(self, reader: str | None = None) -> CardTransport:
        if reader:
            name = reader  # an unknown name fails in SCardConnect: no extra round trip to list
        else:
            readers = self.list_readers()
            if not readers:
                raise ReaderNotFound()
            name = readers[0]
        code, card, protocol = scard.SCardConnect(
            self.context, name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if code in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
            known = "、".join(self.list_readers()) or "无"
            raise ReaderNotFound(f"没有名为 {name} 的读卡器；现有：{known}")
        if code != scard.SCARD_S_SUCCESS:
            raise _card_error(code)
        return PcscTransport(self.context, card, protocol, name)

    def wait_for_change(self, known: list[ReaderState], timeout: float) -> list[ReaderState]:
        readers = self.list_readers()
        if all(name in self._events for name in readers):
            current = [self._state(name) for name in readers]
            if current != known:
                return current  # the caller has not seen the last change yet
        # pcscd reports a change whenever the state we pass (event counter included) is not
        # its current one: pass back exactly what it said last time, so only news wakes us.
        watched = [(name, self._events.get(name, scard.SCARD_STATE_UNAWARE)) for name in readers]
        watched.append((PNP_NOTIFICATION, self._pnp_state))
        code, states = scard.SCardGetStatusChange(self.context, int(timeout * 1000), watched)
        if code == scard.SCARD_E_TIMEOUT:
            return [self._state(name) for name in readers]
        if code != scard.SCARD_S_SUCCESS:
            raise _card_error(code)
        self._events = {}
        for name, event, _ in states:
            if name == PNP_NOTIFICATION:
                self._pnp_state = event & ~scard.SCARD_STATE_CHANGED
            else:
                self._events[name] = event & ~scard.SCARD_STATE_CHANGED
        return [self._state(name) for name in readers]

    def _state(self, name: str) -> ReaderState:
        event = self._events.get(name, 0)
        # The high word of the event state is pcsc-lite's and Windows' per-reader event counter.
        return ReaderState(name, bool(event & scard.SCARD_STATE_PRESENT), (event >> 16) & 0xFFFF)

    def close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)
