"""Choosing the reader back end from the settings (`card.backend`, `card.reader`, …).

- `pcsc`: the APDU protocol over PC/SC (`devices.pcsc`), watched for insertions;
- `vendor`: the ministry's reading interface in a vendor library (`devices.vendor_driver`);
  it has no insertion events, so the clerk presses 读卡 and the driver reads once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.card_identity import CardIdentity, CardNotResponding
from app.settings import CARD_BACKEND, CARD_READER, CARD_VENDOR_ITYPE, CARD_VENDOR_LIBRARY, Settings
from devices.monitor import BackendFactory, Reader, read_card
from devices.transport import CardTransport, ReaderBackend, ReaderState

VENDOR_READER = "厂商读卡驱动"


class VendorBackend(ReaderBackend):
    """The vendor driver seen as one reader whose card presence is unknown (never 'present')."""

    def __init__(self, library: Path, itype: int) -> None:
        from devices.vendor_driver import VendorDriver

        self.driver = VendorDriver(library, itype)

    def list_readers(self) -> list[str]:
        return [VENDOR_READER]

    def connect(self, reader: str | None = None) -> CardTransport:
        raise CardNotResponding("厂商读卡驱动不提供指令通道")

    def wait_for_change(self, known: list[ReaderState], timeout: float) -> list[ReaderState]:
        now = [ReaderState(VENDOR_READER, False)]
        if now == known:
            time.sleep(timeout)
        return now


def read_with_vendor_driver(backend: ReaderBackend, reader: str | None) -> CardIdentity:
    assert isinstance(backend, VendorBackend)
    return backend.driver.read()


@dataclass(frozen=True)
class BackendChoice:
    factory: BackendFactory
    reader: Reader
    reader_name: str | None
    kind: str


def backend_from_settings(settings: Settings) -> BackendChoice:
    if settings.get(CARD_BACKEND) == "vendor":
        library = Path(settings.get(CARD_VENDOR_LIBRARY))
        itype = settings.get(CARD_VENDOR_ITYPE)
        return BackendChoice(lambda: VendorBackend(library, itype), read_with_vendor_driver, None, "vendor")

    def pcsc() -> ReaderBackend:
        from devices.pcsc import PcscBackend

        return PcscBackend()

    return BackendChoice(pcsc, read_card, settings.get(CARD_READER) or None, "pcsc")
