"""Reading the 社保卡 by APDU, over any `CardTransport` (no pyscard here).

1. SELECT the SSSE application by DF name (`sx1.sh.社会保障` in GBK); if the card answers
   "not found", select the MF and try once more (SSSE may sit in a DDF under the MF).
2. READ RECORD by *identifier* (P2 = SFI << 3, P1 = the tag) from EF05 and EF06: record
   numbers differ between card generations, tags do not. A card that does not support
   that mode gets its file scanned record by record, and each record is filed by its tag.
   Every reply's tag is checked against the one asked for.
3. `61xx` → GET RESPONSE, `6Cxx` → the same command again with Le = xx (pyscard does
   neither); `6982` → the fields are protected (3rd-generation card without PSAM).

Decoding: names GBK with 0x00 padding, dates and region codes BCD with F padding,
numbers and versions ASCII. The result is verified (`CardIdentity.verified()`).
Source of the formats: ../shared/CARD.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from app.card_identity import (
    SEX_BY_CODE,
    CardIdentity,
    CardNotResponding,
    MalformedCardData,
    NotSocialSecurityCard,
    PsamRequired,
)
from devices.transport import SW_OK, CardTransport

SSSE_NAME = "sx1.sh.社会保障".encode("gbk")
SELECT_SSSE = bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_NAME)]) + SSSE_NAME
SELECT_MF = bytes.fromhex("00A4000002 3F00")

EF05_SFI = 0x05
EF06_SFI = 0x06
MAX_RECORDS_PER_FILE = 16  # the scan's bound: EF05 and EF06 hold well under this
MAX_CHAINED_REPLIES = 16  # GET RESPONSE / resend rounds per command before giving up


@dataclass(frozen=True)
class Item:
    tag: int
    sfi: int
    label: str


CARD_ID = Item(0x01, EF05_SFI, "卡识别码")
CARD_TYPE = Item(0x02, EF05_SFI, "卡类别")
SPEC_VERSION = Item(0x03, EF05_SFI, "规范版本")
ISSUER = Item(0x04, EF05_SFI, "初始化机构编号")
ISSUE_DATE = Item(0x05, EF05_SFI, "发卡日期")
EXPIRY_DATE = Item(0x06, EF05_SFI, "卡有效期")
CARD_NUMBER = Item(0x07, EF05_SFI, "卡号")
SSN = Item(0x08, EF06_SFI, "社会保障号码")
NAME = Item(0x09, EF06_SFI, "姓名")
SEX = Item(0x0A, EF06_SFI, "性别")
NATION = Item(0x0B, EF06_SFI, "民族")
BIRTHPLACE = Item(0x0C, EF06_SFI, "出生地")
BIRTH_DATE = Item(0x0D, EF06_SFI, "出生日期")

EF05_ITEMS = (CARD_ID, SPEC_VERSION, ISSUE_DATE, EXPIRY_DATE, CARD_NUMBER)
EF06_ITEMS = (SSN, NAME, SEX, NATION, BIRTHPLACE, BIRTH_DATE)

# Replies meaning "this card does not read records by identifier": fall back to a scan.
_MODE_UNSUPPORTED = {0x6A86, 0x6A81, 0x6B00, 0x6D00, 0x6E00}
_SECURITY_NOT_SATISFIED = {0x6982, 0x6985}
_RECORD_NOT_FOUND = {0x6A83, 0x6A82}


class CardSession:
    """One card's exchanges: handles 61xx / 6Cxx so the reading code sees final replies."""

    def __init__(self, transport: CardTransport) -> None:
        self._transport = transport

    def command(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self._transport.send_and_receive(apdu)
        collected = b""
        for _ in range(MAX_CHAINED_REPLIES):
            high, low = sw >> 8, sw & 0xFF
            if high == 0x61:
                collected += data
                data, sw = self._transport.send_and_receive(bytes([0x00, 0xC0, 0x00, 0x00, low]))
            elif high == 0x6C:
                data, sw = self._transport.send_and_receive(_with_le(apdu, low))
            else:
                return collected + data, sw
        raise CardNotResponding("卡片反复要求重发指令")


def _with_le(apdu: bytes, le: int) -> bytes:
    """The same command with its Le (last byte of a case-2 APDU) set to `le`."""
    if len(apdu) == 5 or (len(apdu) > 5 and len(apdu) == 6 + apdu[4]):
        return apdu[:-1] + bytes([le])
    return apdu + bytes([le])  # case 1 or case 3: append Le


def read_record_by_tag(tag: int, sfi: int) -> bytes:
    return bytes([0x00, 0xB2, tag, (sfi << 3) | 0x00, 0x00])


def read_record_by_number(number: int, sfi: int) -> bytes:
    return bytes([0x00, 0xB2, number, (sfi << 3) | 0x04, 0x00])


def select_ssse(session: CardSession) -> None:
    _, sw = session.command(SELECT_SSSE)
    if sw == SW_OK:
        return
    if sw in _RECORD_NOT_FOUND:
        _, mf_sw = session.command(SELECT_MF)
        if mf_sw == SW_OK:
            _, sw = session.command(SELECT_SSSE)
            if sw == SW_OK:
                return
    raise NotSocialSecurityCard()


def _parse_record(item: Item, reply: bytes) -> bytes:
    """The value of a `tag | length | value` record; the tag must be the one asked for."""
    if len(reply) < 2:
        raise MalformedCardData(item.label, "记录过短")
    tag, length = reply[0], reply[1]
    if tag != item.tag:
        raise MalformedCardData(item.label, f"应为标签 {item.tag:02X}，卡片返回 {tag:02X}")
    value = reply[2 : 2 + length]
    if len(value) < length:
        raise MalformedCardData(item.label, f"记录被截断：应有 {length} 字节，只有 {len(value)} 字节")
    return value


def _check_sw(item: Item, sw: int) -> None:
    if sw in _SECURITY_NOT_SATISFIED:
        raise PsamRequired(item.label)
    if sw != SW_OK:
        raise MalformedCardData(item.label, f"读取失败，状态字 {sw:04X}")


def read_items(session: CardSession, sfi: int, items: Iterable[Item]) -> dict[int, bytes]:
    """Values by tag for `items` in one file: by identifier, or by scanning when unsupported."""
    wanted = list(items)
    values: dict[int, bytes] = {}
    for index, item in enumerate(wanted):
        data, sw = session.command(read_record_by_tag(item.tag, sfi))
        if sw in _MODE_UNSUPPORTED and index == 0:
            return _scan_file(session, sfi, wanted)
        _check_sw(item, sw)
        values[item.tag] = _parse_record(item, data)
    return values


def _scan_file(session: CardSession, sfi: int, wanted: list[Item]) -> dict[int, bytes]:
    by_tag = {item.tag: item for item in wanted}
    values: dict[int, bytes] = {}
    for number in range(1, MAX_RECORDS_PER_FILE + 1):
        data, sw = session.command(read_record_by_number(number, sfi))
        if sw in _RECORD_NOT_FOUND:
            break
        if sw in _SECURITY_NOT_SATISFIED:
            tags = [item.label for item in wanted if item.tag not in values]
            raise PsamRequired("、".join(tags))
        if sw != SW_OK:
            raise MalformedCardData(f"EF{sfi:02X} 第 {number} 条记录", f"读取失败，状态字 {sw:04X}")
        if not data:
            continue
        item = by_tag.get(data[0])
        if item is not None:
            values[item.tag] = _parse_record(item, data)
        if len(values) == len(wanted):
            break
    missing = [item.label for item in wanted if item.tag not in values]
    if missing:
        raise MalformedCardData(missing[0], "卡内没有这一项")
    return values


# --- decoding ------------------------------------------------------------------------


def decode_ascii(item: Item, value: bytes) -> str:
    text = value.rstrip(b"\x00").rstrip(b"\xff").strip(b" ")
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedCardData(item.label, "含有非 ASCII 字符") from None


def decode_gbk(item: Item, value: bytes) -> str:
    text = value.split(b"\x00", 1)[0].rstrip(b"\xff").strip(b" ")
    try:
        decoded = text.decode("gbk")
    except UnicodeDecodeError:
        raise MalformedCardData(item.label, "不是有效的 GBK 编码") from None
    if not decoded.isprintable():
        raise MalformedCardData(item.label, "含有控制字符")
    return decoded.strip()


def decode_bcd(item: Item, value: bytes) -> str:
    """BCD digits, trailing F nibbles removed; an F inside the digits is an error."""
    digits = value.hex().upper().rstrip("F")
    if not digits.isdigit() and digits:
        raise MalformedCardData(item.label, f"不是有效的 BCD 数字：{value.hex().upper()}")
    return digits


def decode_date(item: Item, value: bytes, required: bool) -> dt.date | None:
    digits = decode_bcd(item, value)
    if not digits.strip("0"):
        if required:
            raise MalformedCardData(item.label, "卡内为空")
        return None
    if len(digits) != 8:
        raise MalformedCardData(item.label, f"应为 8 位日期 YYYYMMDD，实际为 {digits}")
    try:
        return dt.datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        raise MalformedCardData(item.label, f"{digits} 不是有效日期") from None


def identity_from_records(values: dict[int, bytes], source: str = "pcsc") -> CardIdentity:
    """Decode the raw values (by tag) into a verified `CardIdentity`."""
    card_id = values[CARD_ID.tag].hex().upper()
    spec_version = decode_ascii(SPEC_VERSION, values[SPEC_VERSION.tag])
    ssn = decode_ascii(SSN, values[SSN.tag]).upper()
    name = decode_gbk(NAME, values[NAME.tag])
    card_number = decode_ascii(CARD_NUMBER, values[CARD_NUMBER.tag])
    sex_code = decode_ascii(SEX, values[SEX.tag])
    nation_raw = values[NATION.tag]
    if not (ssn or name or card_number):
        # Blank card: personal fields are empty (and dates may be zero): let verified() say so.
        birth = dt.date.min
        sex = ""
    else:
        birth_or_none = decode_date(BIRTH_DATE, values[BIRTH_DATE.tag], required=bool(ssn))
        birth = birth_or_none or dt.date.min
        if sex_code and sex_code not in SEX_BY_CODE:
            raise MalformedCardData(SEX.label, f"未知的性别代码 {sex_code!r}")
        sex = SEX_BY_CODE.get(sex_code, "")
    if len(nation_raw) > 1:
        raise MalformedCardData(NATION.label, f"应为 1 字节，实际 {len(nation_raw)} 字节")
    nation = f"{nation_raw[0]:02X}" if nation_raw and nation_raw[0] not in (0x00, 0xFF) else None
    birthplace = decode_bcd(BIRTHPLACE, values[BIRTHPLACE.tag]) or None
    identity = CardIdentity(
        region_code=card_id[:6],
        social_security_number=ssn,
        card_number=card_number,
        card_id=card_id,
        name=name,
        sex=sex,
        nation=nation,
        birthplace=birthplace,
        birth_date=birth,
        spec_version=spec_version,
        issue_date=decode_date(ISSUE_DATE, values[ISSUE_DATE.tag], required=False),
        expiry_date=decode_date(EXPIRY_DATE, values[EXPIRY_DATE.tag], required=False),
        source=source,
    )
    return identity.verified()


def read_identity(transport: CardTransport, source: str = "pcsc") -> CardIdentity:
    """Read and verify the card behind `transport`. Raises a `CardError` on any failure."""
    session = CardSession(transport)
    select_ssse(session)
    values = read_items(session, EF05_SFI, EF05_ITEMS)
    values.update(read_items(session, EF06_SFI, EF06_ITEMS))
    return identity_from_records(values, source)

