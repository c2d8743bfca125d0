"""The person a social security card (社会保障卡) identifies, the checks on what was read,
and the card errors a clerk may see.

This is domain code: the reader back ends in `devices/` (direct APDUs over PC/SC, a vendor
driver) build a `CardIdentity` and call `verified()`; the workflow uses the result without
knowing how the card was read. Formats: ../shared/CARD.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace

from app.business_date import business_today
from app.errors import WiCounterError
from app.idnumber import birth_date as id_birth_date
from app.idnumber import id_number_problem
from app.idnumber import sex as id_sex

# --- errors --------------------------------------------------------------------------


class CardError(WiCounterError):
    """Anything that stops the program from identifying a person by the card."""


class ReaderNotFound(CardError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("未检测到读卡器" + (f"（{detail}）" if detail else "") + "，请检查读卡器连接和智能卡服务")


class NoCard(CardError):
    def __init__(self) -> None:
        super().__init__("请插入社保卡")


class CardRemoved(CardError):
    def __init__(self) -> None:
        super().__init__("读卡过程中卡片被拔出，请重新插卡")


class NotSocialSecurityCard(CardError):
    def __init__(self) -> None:
        super().__init__("该卡不是社会保障卡（找不到社会保障应用）")


class CardNotResponding(CardError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("卡片无响应" + (f"（{detail}）" if detail else "") + "，请重新插卡；仍不行请换一台读卡器")


class MalformedCardData(CardError):
    """A field that is missing, cut short or not in its format: names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"卡片数据格式错误（字段：{field}，{problem}）")
        self.field = field


class PsamRequired(CardError):
    def __init__(self, missing: str = "") -> None:
        detail = f"（未能读取：{missing}）" if missing else ""
        super().__init__(f"需要PSAM鉴权才能读取{detail}：本卡的持卡人信息受保护，请配置带 PSAM 的读卡器或厂商读卡驱动")


class BlankCard(CardError):
    def __init__(self) -> None:
        super().__init__("该卡是空白卡（卡内没有持卡人信息），不能识别身份")


class CardExpired(CardError):
    """Raised only where a workflow refuses an expired card; reading one flags it instead."""

    def __init__(self, expiry_date: dt.date) -> None:
        super().__init__(f"卡已过有效期（有效期至 {expiry_date.isoformat()}）")


class VendorDriverError(CardError):
    """The vendor's reading library failed or returned its own error text."""


EXPIRED_MESSAGE = "卡已过有效期"

# --- the identity --------------------------------------------------------------------

SEX_BY_CODE = {"1": "男", "2": "女", "9": "未说明"}

# GB 3304 民族代码 (the code stored on the card); the names are what the window shows.
NATIONS: dict[str, str] = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族", "07": "彝族",
    "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族", "13": "瑶族", "14": "白族",
    "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族", "21": "佤族",
    "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族",
    "29": "柯尔克孜族", "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族",
    "35": "撒拉族", "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族", "46": "德昂族",
    "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族", "51": "独龙族", "52": "鄂伦春族",
    "53": "赫哲族", "54": "门巴族", "55": "珞巴族", "56": "基诺族", "97": "其他", "98": "外国血统中国籍人士",
}

JSON_FIELDS = (
    "region_code", "social_security_number", "card_number", "card_id", "name", "sex", "nation",
    "birthplace", "birth_date", "spec_version", "generation", "issue_date", "expiry_date",
)


@dataclass(frozen=True)
class CardIdentity:
    """What the card says about its holder. Fields the back end could not read are None
    (the vendor driver's output has no 民族 or 出生地, for example)."""

    region_code: str  # 发卡地区行政区划代码
    social_security_number: str  # 社会保障号码 (= citizen ID number)
    card_number: str  # 卡号
    card_id: str  # 卡识别码, 32 hex characters
    name: str  # 姓名
    sex: str  # 性别: 男 / 女
    nation: str | None  # 民族 code, e.g. "01"
    birthplace: str | None  # 出生地 region code
    birth_date: dt.date  # 出生日期
    spec_version: str  # 规范版本, e.g. "3.00"
    issue_date: dt.date | None  # 发卡日期
    expiry_date: dt.date | None  # 卡有效期
    source: str = "pcsc"  # which back end read it (pcsc, vendor, mock)

    @property
    def generation(self) -> int:
        """1, 2 or 3: the first character of the spec version (0 when it is not a digit)."""
        first = self.spec_version[:1]
        return int(first) if first.isdigit() else 0

    @property
    def nation_name(self) -> str | None:
        if self.nation is None:
            return None
        return NATIONS.get(self.nation, f"代码 {self.nation}")

    def is_expired(self, today: dt.date | None = None) -> bool:
        """An expired card still identifies the person; the window flags it."""
        if self.expiry_date is None:
            return False
        return self.expiry_date < (today or business_today())

    def require_not_expired(self, today: dt.date | None = None) -> None:
        if self.expiry_date is not None and self.is_expired(today):
            raise CardExpired(self.expiry_date)

    def verified(self) -> CardIdentity:
        """The identity if it is complete and consistent; else the card error that says why.

        Checks: a blank card, a partly unreadable one, the ID number's check digit (GB 11643),
        and that the birth date and sex on the card agree with the ID number.
        """
        personal = {"社会保障号码": self.social_security_number, "姓名": self.name, "卡号": self.card_number}
        if not any(personal.values()):
            raise BlankCard()
        missing = [label for label, value in personal.items() if not value]
        if missing:
            if self.generation >= 3:
                raise PsamRequired("、".join(missing))
            raise MalformedCardData(missing[0], "卡内为空")
        problem = id_number_problem(self.social_security_number)
        if problem:
            raise MalformedCardData("社会保障号码", problem)
        if id_birth_date(self.social_security_number) != self.birth_date:
            raise MalformedCardData(
                "出生日期", f"卡内为 {self.birth_date.isoformat()}，与社会保障号码中的出生日期不一致"
            )
        if id_sex(self.social_security_number) != self.sex:
            raise MalformedCardData("性别", f"卡内为{self.sex}，与社会保障号码不一致")
        return self

    def with_source(self, source: str) -> CardIdentity:
        return replace(self, source=source)

    def as_json(self) -> dict[str, object]:
        """The CLI's JSON: fixed field names, dates as YYYY-MM-DD."""
        values = asdict(self)
        document: dict[str, object] = {}
        for key in JSON_FIELDS:
            value = self.generation if key == "generation" else values[key]
            document[key] = value.isoformat() if isinstance(value, dt.date) else value
        return document
