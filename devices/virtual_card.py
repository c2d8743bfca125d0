"""A virtual 社保卡: answers the APDUs of `devices.card_protocol` like a real 2nd- or
3rd-generation card, for any person, with faulty variants for tests and training.

It runs two ways:
- in process, behind `devices.mock.MockTransport` (fast unit tests, development);
- plugged into pcscd through vsmartcard's `vpcd` driver (`VpcdCardClient`): the program
  then reads it through the real pyscard → pcscd stack. vpcd's card protocol: each message
  is a 2-byte big-endian length and a payload; a 1-byte payload is a control (0 power off,
  1 power on, 2 reset, 4 get ATR), anything else a command APDU (../shared/CARD.md).

Card layouts differ by generation as real cards do: the 3rd generation keeps a 姓名扩展
record (tag 4E) in EF06, so the record numbers after it shift, and it answers in T=0 style
(`61xx`, then GET RESPONSE); the 2nd generation cannot read records by identifier, so the
reader must scan the file.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.card_identity import CardError

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963  # "Virtual PCD 00 00"; the next reader listens on the next port
ATR = bytes.fromhex("3B 6C 00 00 80 1F C0 5C 53 53 43 41 52 44 30 31".replace(" ", ""))  # "SSCARD01"

SSSE_NAME = "sx1.sh.社会保障".encode("gbk")


class Fault(enum.Enum):
    BLANK = "blank"  # unpersonalised: the personal records are empty
    NOT_SSC = "not-ssc"  # no SSSE application (a bank card, a building pass)
    MALFORMED_TLV = "malformed-tlv"  # the 姓名 record comes back with another record's tag
    TRUNCATED = "truncated"  # the 社会保障号码 record is cut short
    PSAM_WITHHELD = "psam-withheld"  # EF06 answers 69 82 without PSAM authentication
    PSAM_EMPTY = "psam-empty"  # EF06 answers, but the 姓名 comes back empty (3rd generation without PSAM)
    SLOW = "slow"  # every answer takes `delay` seconds
    REMOVED_MID_READ = "removed-mid-read"  # the card is pulled after `remove_after` commands
    WRONG_LE = "wrong-le"  # answers 6Cxx until the command carries the exact Le


@dataclass(frozen=True)
class CardPerson:
    """A virtual card's holder and card data (the demo files in resources/demo/cards/)."""

    name: str
    sex: str  # 男 / 女
    social_security_number: str
    birth_date: dt.date
    region_code: str
    card_number: str
    generation: int = 3
    spec_version: str = ""
    nation: str = "01"
    birthplace: str = ""
    issue_date: dt.date = dt.date(2020, 1, 1)
    expiry_date: dt.date = dt.date(2030, 1, 1)
    faults: frozenset[Fault] = field(default_factory=frozenset)
    delay: float = 0.0
    remove_after: int = 3

    @property
    def version(self) -> str:
        return self.spec_version or f"{self.generation}.00"

    @property
    def card_id(self) -> bytes:
        """16 bytes whose hex starts with the region code (as real 卡识别码 do)."""
        tail = (self.card_number.encode("ascii") + b"\x00" * 11)[:11]
        return bytes.fromhex(self.region_code + "D156") + tail

    def with_faults(self, *faults: Fault, **changes: object) -> CardPerson:
        return replace(self, faults=frozenset(faults) | self.faults, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, document: dict[str, object]) -> CardPerson:
        def date(key: str, default: dt.date | None = None) -> dt.date:
            text = document.get(key)
            if text is None and default is not None:
                return default
            return dt.date.fromisoformat(str(text))

        return cls(
            name=str(document["name"]),
            sex=str(document["sex"]),
            social_security_number=str(document["social_security_number"]),
            birth_date=date("birth_date"),
            region_code=str(document["region_code"]),
            card_number=str(document["card_number"]),
            generation=int(str(document.get("generation", 3))),
            spec_version=str(document.get("spec_version", "")),
            nation=str(document.get("nation", "01")),
            birthplace=str(document.get("birthplace", "")),
            issue_date=date("issue_date", dt.date(2020, 1, 1)),
            expiry_date=date("expiry_date", dt.date(2030, 1, 1)),
            faults=frozenset(Fault(f) for f in document.get("faults", []) or []),  # type: ignore[attr-defined]
            delay=float(str(document.get("delay", 0.0))),
        )

    @classmethod
    def load(cls, path: Path) -> CardPerson:
        from app.card_identity import MalformedCardData

        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MalformedCardData(f"人员文件 {path}", str(exc)) from None


def _bcd(digits: str, size: int) -> bytes:
    return bytes.fromhex(digits.ljust(size * 2, "F"))


def _padded(data: bytes, size: int) -> bytes:
    return (data + b"\x00" * size)[:size]


def _record(tag: int, value: bytes) -> bytes:
    return bytes([tag, len(value)]) + value


class VirtualCard:
    """The card's state machine: `transmit(apdu) -> response` (data followed by SW1 SW2)."""

    def __init__(self, person: CardPerson) -> None:
        self.person = person
        self.atr = ATR
        self.commands = 0
        self.removed = False
        self._selected = False
        self._pending = b""  # what GET RESPONSE returns next
        self._files = self._build_files()

    def _build_files(self) -> dict[int, list[bytes]]:
        p = self.person
        blank = Fault.BLANK in p.faults
        psam_empty = Fault.PSAM_EMPTY in p.faults
        ef05 = [
            _record(0x01, p.card_id),
            _record(0x02, b"3"),
            _record(0x03, p.version.encode("ascii")[:4]),
            _record(0x04, bytes.fromhex(p.region_code + "000000000000000000")[:12]),
            _record(0x05, _bcd(p.issue_date.strftime("%Y%m%d"), 4)),
            _record(0x06, _bcd(p.expiry_date.strftime("%Y%m%d"), 4)),
            _record(0x07, _padded(b"" if blank else p.card_number.encode("ascii"), 9)),
        ]
        name = b"" if blank or psam_empty else p.name.encode("gbk")
        ssn = _padded(b"" if blank else p.social_security_number.encode("ascii"), 18)
        if Fault.TRUNCATED in p.faults:
            ssn_record = bytes([0x08, 18]) + ssn[:11]
        else:
            ssn_record = _record(0x08, ssn)
        name_tag = 0x0A if Fault.MALFORMED_TLV in p.faults else 0x09
        ef06 = [
            ssn_record,
            _record(name_tag, _padded(name, 30)),
            _record(0x0A, b"" if blank else (b"1" if p.sex == "男" else b"2")),
            _record(0x0B, bytes.fromhex(p.nation) if not blank else b"\x00"),
            _record(0x0C, _bcd("" if blank else p.birthplace, 3)),
            _record(0x0D, _bcd("00000000" if blank else p.birth_date.strftime("%Y%m%d"), 4)),
        ]
        if p.generation >= 3:
            ef06.insert(2, _record(0x4E, _padded(b"", 20)))  # 姓名扩展 shifts the records after it
        return {0x05: ef05, 0x06: ef06}

    def transmit(self, apdu: bytes) -> bytes:
        p = self.person
        if self.removed:
            raise ConnectionError("card removed")
        self.commands += 1
        if Fault.REMOVED_MID_READ in p.faults and self.commands > p.remove_after:
            self.removed = True
            raise ConnectionError("card removed")
        if Fault.SLOW in p.faults and p.delay > 0:
            time.sleep(p.delay)
        if len(apdu) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = apdu[:4]
        if ins == 0xC0:
            data, self._pending = self._pending, b""
            if not data:
                return b"\x6F\x00"
            return data + b"\x90\x00"
        if ins == 0xA4:
            return self._select(apdu)
        if ins == 0xB2:
            return self._read_record(apdu, p1, p2)
        return b"\x6D\x00"

    def _select(self, apdu: bytes) -> bytes:
        p1 = apdu[2]
        body = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if p1 == 0x04:
            if Fault.NOT_SSC in self.person.faults or body != SSSE_NAME:
                self._selected = False
                return b"\x6A\x82"
            self._selected = True
            return b"\x90\x00"
        if p1 == 0x00 and body == b"\x3F\x00":
            self._selected = False
            return b"\x90\x00"
        return b"\x6A\x82"

    def _read_record(self, apdu: bytes, p1: int, p2: int) -> bytes:
        p = self.person
        if not self._selected:
            return b"\x69\x86"  # no current application
        sfi, mode = p2 >> 3, p2 & 0x07
        records = self._files.get(sfi)
        if records is None:
            return b"\x6A\x82"
        if sfi == 0x06 and Fault.PSAM_WITHHELD in p.faults:
            return b"\x69\x82"
        if mode == 0x04:
            if not 1 <= p1 <= len(records):
                return b"\x6A\x83"
            record = records[p1 - 1]
        elif mode == 0x00:
            if p.generation < 3:
                return b"\x6A\x86"  # this generation reads by record number only
            found = [r for r in records if r[0] == p1]
            if not found:
                return b"\x6A\x83"
            record = found[0]
        else:
            return b"\x6A\x86"
        return self._answer(apdu, record)

    def _answer(self, apdu: bytes, data: bytes) -> bytes:
        le = apdu[4] if len(apdu) == 5 else None
        if Fault.WRONG_LE in self.person.faults and le != len(data):
            return bytes([0x6C, len(data)])
        if self.person.generation >= 3:
            self._pending = data
            return bytes([0x61, len(data)])
        return data + b"\x90\x00"


# --- vpcd ----------------------------------------------------------------------------


class VpcdCardClient:
    """Plugs a `VirtualCard` into vpcd: connecting is inserting, disconnecting is removing.

    Runs its exchange loop on a daemon thread; `remove()` pulls the card. Every socket wait
    has a timeout so a test never hangs when pcscd goes away.
    """

    def __init__(self, card: VirtualCard, host: str = VPCD_HOST, port: int = VPCD_PORT) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.inserted_at = 0.0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd (raises `ConnectionError` when vpcd is not listening)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise ConnectionError(f"vpcd 未在 {self.host}:{self.port} 监听（pcscd 是否已启动？）：{exc}") from exc
        # Small messages both ways: without these, Nagle + delayed ACK add ~40 ms per APDU.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.5)
        self._socket = sock
        self._stop.clear()
        self.inserted_at = time.perf_counter()
        self._thread = threading.Thread(target=self._serve, name="virtual-card", daemon=True)
        self._thread.start()

    def remove(self, timeout: float = 5.0) -> None:
        self._stop.set()
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> VpcdCardClient:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _receive(self, sock: socket.socket, size: int) -> bytes:
        chunks = b""
        while len(chunks) < size:
            try:
                chunk = sock.recv(size - len(chunks))
            except TimeoutError:
                if self._stop.is_set():
                    raise EOFError from None
                continue
            if not chunk:
                raise EOFError
            chunks += chunk
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        return chunks

    def _serve(self) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            while not self._stop.is_set():
                (length,) = struct.unpack(">H", self._receive(sock, 2))
                payload = self._receive(sock, length)
                if length == 1:
                    if payload[0] == 0x04:
                        reply = self.card.atr
                    else:
                        continue  # power on/off, reset: no answer expected
                else:
                    try:
                        reply = self.card.transmit(payload)
                    except ConnectionError:
                        break  # removed mid-read: drop the connection like a pulled card
                sock.sendall(struct.pack(">H", len(reply)) + reply)
        except (EOFError, OSError, CardError) as exc:
            log.debug("虚拟卡连接结束：%s", exc)
        finally:
            try:
                sock.close()
            except OSError:
                pass
