"""The transport interface between the card protocol and a reader (yubikey-manager's
`SmartCardConnection` pattern): protocol code sends command APDUs and gets `(data, sw)`
back, and never knows whether pyscard, an in-process virtual card or anything else is
underneath.

APDU traffic is logged at `TRACE` (below DEBUG, off by default) on the `devices.apdu`
logger, with ID numbers masked even inside the hex dump.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

from app.logging_setup import TRACE

apdu_log = logging.getLogger("devices.apdu")

SW_OK = 0x9000


class CardTransport(ABC):
    """One connection to one card. Use as a context manager: the card is released on exit."""

    @abstractmethod
    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; return the response data and the status word (e.g. 0x9000).

        Raises a `CardError` (`CardRemoved`, `CardNotResponding`) when the exchange fails.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the card (idempotent)."""

    def __enter__(self) -> CardTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class ReaderState:
    """One reader as a back end sees it at one moment."""

    name: str
    card_present: bool
    # Counts card insertions and removals as the reader service saw them: a card swapped
    # between two looks is present before and after, but not the same card.
    card_events: int = 0


class ReaderBackend(ABC):
    """A way to reach card readers: list them, see what is in them, connect to a card."""

    @abstractmethod
    def list_readers(self) -> list[str]:
        """The readers attached now (may be empty)."""

    @abstractmethod
    def connect(self, reader: str | None = None) -> CardTransport:
        """A transport to the card in `reader` (None: the first reader).

        Raises `ReaderNotFound` or `NoCard`.
        """

    @abstractmethod
    def wait_for_change(self, known: list[ReaderState], timeout: float) -> list[ReaderState]:
        """Block up to `timeout` seconds until the readers or their cards differ from `known`;
        return the state now (equal to `known` when nothing changed)."""

    def close(self) -> None:
        """Release the back end's resources (e.g. the PC/SC context)."""


# Citizen ID numbers travel as 18 ASCII bytes; find them in the raw bytes of an APDU.
_ID_BYTES = re.compile(rb"[0-9]{17}[0-9Xx]")


def masked_hex(data: bytes) -> str:
    """Hex dump with the middle eight characters of any ID number replaced by `**` bytes."""
    out: list[str] = []
    position = 0
    for match in _ID_BYTES.finditer(data):
        out.append(data[position : match.start()].hex(" "))
        chunk = data[match.start() : match.end()]
        out.append(" ".join([chunk[:6].hex(" "), "** " * 7 + "**", chunk[14:].hex(" ")]))
        position = match.end()
    out.append(data[position:].hex(" "))
    return " ".join(part for part in out if part).upper()


def trace_exchange(reader: str, apdu: bytes, data: bytes, sw: int) -> None:
    if apdu_log.isEnabledFor(TRACE):
        apdu_log.log(TRACE, "%s >> %s", reader, masked_hex(apdu))
        apdu_log.log(TRACE, "%s << %s %04X", reader, masked_hex(data), sw)
