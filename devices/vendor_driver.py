"""The vendor-driver back end: the ministry's unified reading interface in a DLL / shared
library (e.g. SSCardDriver.dll), for sites whose 3rd-generation cards need a PSAM.

`long iReadCardBas(int iType, char* pOutInfo)` fills `pOutInfo` with GBK text:
`发卡地区行政区划代码|社会保障号码|卡号|卡识别码|姓名|卡复位信息|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|`
and returns 0; any other return value means `pOutInfo` holds the driver's error text
(LD/T 6001.5-2023, quoted in ../shared/CARD.md). The output has no 性别 or 出生日期: both
are derived from the 社会保障号码, and 民族 / 出生地 stay unknown (None).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import sys
from pathlib import Path

from app.card_identity import (
    BlankCard,
    CardIdentity,
    MalformedCardData,
    VendorDriverError,
)
from app.idnumber import birth_date as id_birth_date
from app.idnumber import id_number_problem
from app.idnumber import sex as id_sex

log = logging.getLogger(__name__)

OUTPUT_BUFFER_SIZE = 4096  # the spec's examples stay well under 1 KB
FIELD_NAMES = (
    "发卡地区行政区划代码", "社会保障号码", "卡号", "卡识别码", "姓名", "卡复位信息",
    "规范版本", "发卡日期", "卡有效期", "终端机编号", "终端设备号",
)
ITYPE_CHOICES = (1, 2, 3, 4)  # 1 contact, 2 contactless, 3 auto (contact first), 4 auto (contactless first)


def _date(field: str, text: str) -> dt.date | None:
    if not text.strip("0"):
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise MalformedCardData(field, f"{text} 不是有效日期（应为 YYYYMMDD）") from None


def parse_basic_info(raw: bytes) -> CardIdentity:
    """Parse iReadCardBas's output into a verified `CardIdentity`."""
    text_bytes = raw.split(b"\x00", 1)[0]
    try:
        text = text_bytes.decode("gbk")
    except UnicodeDecodeError:
        raise MalformedCardData("读卡驱动输出", "不是有效的 GBK 文本") from None
    parts = text.split("|")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # the trailing '|'
    if len(parts) < 9:
        raise MalformedCardData("读卡驱动输出", f"应至少有 9 个以 | 分隔的字段，实际 {len(parts)} 个")
    fields = dict(zip(FIELD_NAMES, (part.strip() for part in parts), strict=False))
    ssn = fields["社会保障号码"].upper()
    name = fields["姓名"]
    card_number = fields["卡号"]
    if not (ssn or name or card_number):
        raise BlankCard()
    if not ssn:
        raise MalformedCardData("社会保障号码", "读卡驱动未返回")
    problem = id_number_problem(ssn)
    if problem:
        raise MalformedCardData("社会保障号码", problem)
    identity = CardIdentity(
        region_code=fields["发卡地区行政区划代码"],
        social_security_number=ssn,
        card_number=card_number,
        card_id=fields["卡识别码"].upper(),
        name=name,
        sex=id_sex(ssn),
        nation=None,
        birthplace=None,
        birth_date=id_birth_date(ssn),
        spec_version=fields["规范版本"],
        issue_date=_date("发卡日期", fields["发卡日期"]),
        expiry_date=_date("卡有效期", fields["卡有效期"]),
        source="vendor",
    )
    return identity.verified()


def _load(library: Path) -> ctypes.CDLL:
    # Windows drivers export __stdcall functions (WinDLL); on 64-bit Windows the two are
    # the same convention, and elsewhere there is only cdecl.
    if sys.platform == "win32":
        return ctypes.WinDLL(str(library))
    return ctypes.CDLL(str(library))


class VendorDriver:
    """A loaded vendor library; `read()` calls iReadCardBas once."""

    def __init__(self, library: Path, itype: int = 3) -> None:
        if itype not in ITYPE_CHOICES:
            raise VendorDriverError(f"读卡方式 iType 只能是 1、2、3、4，实际为 {itype}")
        if not str(library):
            raise VendorDriverError("未设置厂商读卡驱动库的路径（设置项 card.vendor_library）")
        if not Path(library).exists():
            raise VendorDriverError(f"找不到厂商读卡驱动库：{library}")
        try:
            self._library = _load(library)
        except OSError as exc:
            raise VendorDriverError(f"无法加载厂商读卡驱动库 {library}：{exc}") from None
        try:
            function = self._library.iReadCardBas
        except AttributeError:
            raise VendorDriverError(f"厂商读卡驱动库 {library} 中没有 iReadCardBas 函数") from None
        function.argtypes = [ctypes.c_int, ctypes.c_char_p]
        function.restype = ctypes.c_long
        self._read = function
        self.itype = itype
        self.library = Path(library)

    def read_raw(self) -> tuple[int, bytes]:
        buffer = ctypes.create_string_buffer(OUTPUT_BUFFER_SIZE)
        code = int(self._read(self.itype, buffer))
        return code, buffer.raw

    def read(self) -> CardIdentity:
        code, raw = self.read_raw()
        if code != 0:
            message = raw.split(b"\x00", 1)[0].decode("gbk", errors="replace").strip()
            log.info("厂商读卡驱动返回错误 %s：%s", code, message)
            raise VendorDriverError(f"读卡失败（厂商驱动错误 {code}）：{message or '无错误说明'}")
        return parse_basic_info(raw)
