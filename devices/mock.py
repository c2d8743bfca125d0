"""The mock reader: virtual cards in process, no pcscd (unit tests, development).

`MockBackend` holds named readers, each empty or holding a `VirtualCard`; tests insert and
remove cards and attach and detach readers, and the monitor sees it as it would a real
reader. A card slower than the transport's `timeout` is reported as not responding, like a
real reader's timeout.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from app.card_identity import CardNotResponding, CardRemoved, NoCard, ReaderNotFound
from devices.transport import CardTransport, ReaderBackend, ReaderState, trace_exchange
from devices.virtual_card import VirtualCard

MOCK_READER = "Mock Reader 0"


class MockTransport(CardTransport):
    def __init__(self, card: VirtualCard, reader: str = MOCK_READER, timeout: float | None = None) -> None:
        self._card = card
        self._reader = reader
        self._timeout = timeout
        self._closed = False

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self._closed:
            raise CardRemoved()
        try:
            if self._timeout is None:
                response = self._card.transmit(apdu)
            else:
                response = self._timed(apdu, self._timeout)
        except ConnectionError:
            raise CardRemoved() from None
        if len(response) < 2:
            raise CardNotResponding("回复不足两字节")
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        trace_exchange(self._reader, apdu, data, sw)
        return data, sw

    def _timed(self, apdu: bytes, timeout: float) -> bytes:
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(self._card.transmit, apdu)
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise CardNotResponding(f"超过 {timeout:g} 秒未回复") from None
        finally:
            pool.shutdown(wait=False)  # a card that never answers must not hold the caller

    def close(self) -> None:
        self._closed = True


class MockBackend(ReaderBackend):
    def __init__(self, readers: dict[str, VirtualCard | None] | None = None, timeout: float | None = None) -> None:
        self._readers: dict[str, VirtualCard | None] = dict(readers if readers is not None else {MOCK_READER: None})
        self._timeout = timeout
        self._changed = threading.Condition()
        self._card_events: dict[str, int] = {}

    # --- what a test does with its hands -----------------------------------------------

    def insert(self, card: VirtualCard, reader: str = MOCK_READER) -> None:
        with self._changed:
            self._readers[reader] = card
            self._card_events[reader] = self._card_events.get(reader, 0) + 1
            self._changed.notify_all()

    def swap(self, card: VirtualCard, reader: str = MOCK_READER) -> None:
        """Pull the card and insert another between two looks of the monitor."""
        with self._changed:
            old = self._readers.get(reader)
            if old is not None:
                old.removed = True
            self._readers[reader] = card
            self._card_events[reader] = self._card_events.get(reader, 0) + 2
            self._changed.notify_all()

    def remove(self, reader: str = MOCK_READER) -> None:
        with self._changed:
            card = self._readers.get(reader)
            if card is not None:
                card.removed = True
                self._card_events[reader] = self._card_events.get(reader, 0) + 1
            self._readers[reader] = None
            self._changed.notify_all()

    def attach(self, reader: str) -> None:
        with self._changed:
            self._readers.setdefault(reader, None)
            self._changed.notify_all()

    def detach(self, reader: str) -> None:
        with self._changed:
            card = self._readers.pop(reader, None)
            if card is not None:
                card.removed = True
            self._changed.notify_all()

    # --- ReaderBackend -------------------------------------------------------------------

    def list_readers(self) -> list[str]:
        with self._changed:
            return list(self._readers)

    def connect(self, reader: str | None = None) -> CardTransport:
        with self._changed:
            if not self._readers:
                raise ReaderNotFound()
            name = reader or next(iter(self._readers))
            if name not in self._readers:
                raise ReaderNotFound(f"没有名为 {name} 的读卡器")
            card = self._readers[name]
            if card is None:
                raise NoCard()
            card.removed = False
            return MockTransport(card, name, self._timeout)

    def _state(self) -> list[ReaderState]:
        return [
            ReaderState(name, card is not None, self._card_events.get(name, 0)) for name, card in self._readers.items()
        ]

    def wait_for_change(self, known: list[ReaderState], timeout: float) -> list[ReaderState]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._state() == known:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._state()
