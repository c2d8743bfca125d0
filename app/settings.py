"""Typed settings, each declared once with its type, default and Chinese label.

Stored as TOML in the platform's config folder (`AppPaths.settings_file`). Secrets
never go here: they live in the OS keyring (`app.secret_store`).

To add a setting, declare one more `Setting` below and add it to `ALL_SETTINGS`;
the settings page, `wi-counter settings list` and validation pick it up.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import tomlkit
import tomlkit.exceptions

from app.errors import ConfigurationError

log = logging.getLogger(__name__)

T = TypeVar("T", str, int, bool)

DB_URL_ENV = "WI_COUNTER_DB_URL"


@dataclass(frozen=True)
class Setting(Generic[T]):
    key: str
    kind: type[T]
    default: T
    label: str
    description: str
    choices: tuple[T, ...] | None = None
    # What the settings page shows for each choice (same order), the code kept in brackets for IT:
    # a clerk reads 厂商读卡驱动, not `vendor`.
    choice_labels: tuple[str, ...] | None = None
    minimum: int | None = None
    check: Callable[[T], str | None] | None = None  # returns a Chinese problem, or None
    # Loads code, or weakens or redirects a security control: only an administrator changes it,
    # with their password, audited (`wi-counter settings set`, the window's settings page).
    admin_only: bool = False

    def validate(self, value: object) -> T:
        """Return `value` if it suits this setting, else raise a ConfigurationError in Chinese."""
        # bool is an int subclass: keep them apart so `true` never passes as a count.
        if type(value) is not self.kind:
            raise ConfigurationError(
                f"设置项 {self.key}（{self.label}）应为{_KIND_NAMES[self.kind]}，实际为 {value!r}"
            )
        if self.choices is not None and value not in self.choices:
            allowed = "、".join(str(c) for c in self.choices)
            raise ConfigurationError(f"设置项 {self.key}（{self.label}）只能取：{allowed}；实际为 {value!r}")
        if self.minimum is not None and isinstance(value, int) and value < self.minimum:
            raise ConfigurationError(f"设置项 {self.key}（{self.label}）不能小于 {self.minimum}；实际为 {value!r}")
        if self.check is not None:
            problem = self.check(value)  # type: ignore[arg-type]
            if problem:
                raise ConfigurationError(f"设置项 {self.key}（{self.label}）：{problem}")
        return value  # type: ignore[return-value]

    def parse(self, text: str) -> T:
        """Read a value typed on the command line or in a form."""
        text = text.strip()
        value: object
        if self.kind is bool:
            lowered = text.lower()
            if lowered in {"true", "yes", "1", "on", "是"}:
                value = True
            elif lowered in {"false", "no", "0", "off", "否"}:
                value = False
            else:
                raise ConfigurationError(f"设置项 {self.key}（{self.label}）应为 true 或 false；实际为 {text!r}")
        elif self.kind is int:
            try:
                value = int(text)
            except ValueError:
                raise ConfigurationError(f"设置项 {self.key}（{self.label}）应为整数；实际为 {text!r}") from None
        else:
            value = text
        return self.validate(value)


_KIND_NAMES: dict[type, str] = {str: "文本", int: "整数", bool: "是/否（true/false）"}


def _no_password_in_url(url: str) -> str | None:
    """Secrets live in the keyring, never in the settings file."""
    if not url:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "数据库地址格式错误，示例：postgresql+psycopg://wi_counter@db-server:5432/wi_counter"
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        return f"只支持 SQLite 或 PostgreSQL，实际为 {parsed.get_backend_name()}"
    if parsed.password:
        return "数据库密码不能写在设置中；请去掉地址中的密码，用 wi-counter secret set database 把密码存入系统密钥环"
    return None


def _not_blank(text: str) -> str | None:
    # A blank counter name would print blank in titles and in every audit record.
    return "不能为空" if not text.strip() else None

DATABASE_URL: Setting[str] = Setting(
    "database.url", str, "",
    "数据库地址",
    "SQLAlchemy 地址；留空使用本机数据文件夹中的 SQLite。多个窗口共用数据库时填写 PostgreSQL 地址，"
    "例如 postgresql+psycopg://wi_counter@db-server:5432/wi_counter（密码不写在这里）。"
    f"环境变量 {DB_URL_ENV} 优先。",
    check=_no_password_in_url,
    admin_only=True,
)
COUNTER_NAME: Setting[str] = Setting(
    "counter.name", str, "1号窗口",
    "窗口名称",
    "本台收费窗口的名称，显示在标题栏并记入审计日志，多窗口共用数据库时用以区分。",
    check=_not_blank,
)
LOG_LEVEL: Setting[str] = Setting(
    "logging.level", str, "INFO",
    "日志级别",
    "写入日志文件的最低级别。TRACE 另记读卡指令（APDU），仅供排查故障时临时开启。",
    choices=("TRACE", "DEBUG", "INFO", "WARNING", "ERROR"),
    choice_labels=("最详细，含读卡指令（TRACE，仅排查读卡故障时临时开启）", "详细（DEBUG）", "一般（INFO）",
                   "仅警告（WARNING）", "仅错误（ERROR）"),
)
LOG_KEEP_FILES: Setting[int] = Setting(
    "logging.keep_files", int, 10,
    "日志文件保留个数",
    "日志文件每个最多 5 MB，超过后轮换；保留的旧文件个数。",
    minimum=1,
)
BACKUP_KEEP: Setting[int] = Setting(
    "database.backups_to_keep", int, 20,
    "数据库备份保留个数",
    "升级数据库结构前自动备份 SQLite 文件；保留最近的备份个数。",
    minimum=1,
)
SESSION_IDLE_LOCK_MINUTES: Setting[int] = Setting(
    "session.idle_lock_minutes", int, 10,
    "无操作自动锁定（分钟）",
    "窗口无键盘、鼠标操作这么多分钟后自动锁定（同 Ctrl+L），需重新登录；0 为不自动锁定。",
    minimum=0,
    admin_only=True,
)

# --- card reader settings (issue 3) ---
CARD_BACKEND: Setting[str] = Setting(
    "card.backend", str, "pcsc",
    "读卡方式",
    "pcsc：通过系统智能卡服务直接读卡（第二代社保卡及无需 PSAM 的卡）；"
    "vendor：通过厂商读卡驱动库（iReadCardBas，需要 PSAM 的第三代社保卡）。",
    choices=("pcsc", "vendor"),
    choice_labels=("系统智能卡服务直接读卡（pcsc）", "厂商读卡驱动库（vendor，iReadCardBas）"),
    admin_only=True,
)
CARD_READER: Setting[str] = Setting(
    "card.reader", str, "",
    "读卡器名称",
    "自动读卡所用的读卡器名称（wi-counter card readers 可列出）；留空使用第一台读卡器。",
)
CARD_VENDOR_LIBRARY: Setting[str] = Setting(
    "card.vendor_library", str, "",
    "厂商读卡驱动库",
    "读卡方式为 vendor 时，厂商提供的读卡驱动库（如 SSCardDriver.dll）的完整路径。",
    admin_only=True,
)
CARD_VENDOR_ITYPE: Setting[int] = Setting(
    "card.vendor_itype", int, 3,
    "厂商驱动读卡类型（iType）",
    "iReadCardBas 的 iType：1 接触式，2 非接触式，3 自动（接触式优先），4 自动（非接触式优先）。",
    choices=(1, 2, 3, 4),
    choice_labels=("1 接触式", "2 非接触式", "3 自动（接触式优先）", "4 自动（非接触式优先）"),
)

# --- settlement centre settings (issue 5) ---

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _centre_url_problem(url: str) -> str | None:
    """HTTPS with a host; plain HTTP only to this machine (the sandbox centre)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "应为 https://主机[:端口] 形式的地址"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        return "只有本机的演示结算中心（127.0.0.1）可以使用 http；其他地址必须使用 https（TLS，验证证书）"
    return None


def _institution_code_problem(code: str) -> str | None:
    if code and (len(code) != 12 or not code.isalnum() or not code.isascii()):
        return "应为 12 位字母或数字（协议机构编码），或留空使用数据库中的本机构"
    return None


CENTRE_INTERFACE: Setting[str] = Setting(
    "centre.interface", str, "wi-counter-json",
    "结算中心接口类型",
    "本院所属结算中心使用的接口。目前提供 wi-counter-json（本程序的 JSON 接口，docs/centre-interface.md，"
    "演示结算中心即用此接口）；其他地区的接口将作为新的接口类型加入。",
    choices=("wi-counter-json",),
    choice_labels=("本程序的 JSON 接口（wi-counter-json）",),
    admin_only=True,
)
CENTRE_URL: Setting[str] = Setting(
    "centre.url", str, "http://127.0.0.1:8765",
    "结算中心地址",
    "工伤联网结算中心接口的地址（https）。默认是本机的演示结算中心（wi-counter centre serve）。"
    "签名密钥不写在这里：用 wi-counter secret set centre-key 存入系统密钥环。",
    check=_centre_url_problem,
    admin_only=True,
)
CENTRE_INSTITUTION_CODE: Setting[str] = Setting(
    "centre.institution_code", str, "",
    "协议机构编码",
    "结算中心分配给本院的 12 位协议机构编码；留空时使用数据库中登记的本机构编码。",
    check=_institution_code_problem,
)
CENTRE_CONNECT_TIMEOUT_MS: Setting[int] = Setting(
    "centre.connect_timeout_ms", int, 1500,
    "结算中心连接超时（毫秒）",
    "连不上结算中心时多久放弃并显示“结算中心无法连接”。取值小，断网时窗口不会卡住。",
    minimum=100,
)
CENTRE_READ_TIMEOUT_SECONDS: Setting[int] = Setting(
    "centre.read_timeout_seconds", int, 15,
    "结算中心应答超时（秒）",
    "请求已发出后等待应答的最长时间；超时的交易按报文编号查询结果，不会重复结算。",
    minimum=1,
)
CENTRE_MAX_REPLY_MIB: Setting[int] = Setting(
    "centre.max_reply_mib", int, 16,
    "结算中心应答大小上限（MiB）",
    "超过此大小的应答不再读取，交易按报文编号查询结果；防止异常应答占满内存。",
    minimum=1,
)
CENTRE_CA_FILE: Setting[str] = Setting(
    "centre.ca_file", str, "",
    "结算中心证书颁发机构文件",
    "结算中心使用专用证书时，其 CA 证书文件（PEM）的路径；留空使用系统信任的证书。证书始终验证。",
    admin_only=True,
)
CENTRE_PING_SECONDS: Setting[int] = Setting(
    "centre.ping_interval_seconds", int, 15,
    "结算中心联网检测间隔（秒）",
    "状态栏多久检测一次结算中心是否可以连接。",
    minimum=2,
)


def _daily_time_or_blank(text: str) -> str | None:
    if text.strip() and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text.strip()):
        return "应为 时:分（24 小时制，如 02:30），或留空不定时上传"
    return None


CENTRE_UPLOAD_AFTER_IMPORT: Setting[bool] = Setting(
    "centre.upload_after_import", bool, True,
    "导入后上传费用明细",
    "每次导入 HIS 费用后，在后台把已对照、已分类的明细上传结算中心；出院结算时只需上传剩余明细。",
)
CENTRE_UPLOAD_DAILY_AT: Setting[str] = Setting(
    "centre.upload_daily_at", str, "",
    "每日定时上传时间",
    "每天此时（时:分，如 02:00）起，窗口把在院患者尚未上传的已分类明细上传结算中心（每日上传）；留空不定时上传。"
    "程序未运行时可用计划任务执行 wi-counter charges upload --all。",
    check=_daily_time_or_blank,
)

# --- slip and printing settings (issue 7) ---

# The slip's form is no setting: each stay's policy profile names it (`slip_template`), so a Beijing
# stay never prints Guangdong's 附表3 (issue 23 §12). A settings file's old `slip.template` is ignored.
SLIP_PAPER: Setting[str] = Setting(
    "slip.paper", str, "A4",
    "结算单纸张",
    "A4：一张纸上下两联（协议机构留存、工伤职工留存），沿虚线裁开；A5横向：每联一张。",
    choices=("A4", "A5横向"),
)
def _absolute_folder_or_blank(text: str) -> str | None:
    # A relative folder would depend on where the program was started from.
    if text.strip() and not Path(text.strip()).expanduser().is_absolute():
        return "请填写完整路径（如 D:\\结算单存档 或 /srv/slips），或留空使用默认文件夹"
    return None


SLIP_ARCHIVE_DIR: Setting[str] = Setting(
    "slip.archive_dir", str, "",
    "结算单存档文件夹",
    "每张打印（含补打）的结算单都以 PDF 存入此文件夹，文件名含就医登记号和打印日期。"
    "留空则存入本机数据文件夹下的 slips 文件夹；多窗口时可填共享文件夹。",
    check=_absolute_folder_or_blank,
)
SLIP_PRINTER: Setting[str] = Setting(
    "slip.printer", str, "",
    "结算单打印机",
    "打印结算单时默认选中的打印机；每次在打印对话框中选定后自动记住。留空为系统默认打印机。",
)

# --- charges settings (issue 6) ---


def _mapping_name(text: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9_\-\u4e00-\u9fff]+", text):
        return "只用字母、数字、汉字、- 和 _（列映射文件名，不含 .toml）"
    return None


HIS_MAPPING: Setting[str] = Setting(
    "his.mapping", str, "default",
    "HIS 费用导入列映射",
    "导入 HIS 费用明细文件时默认使用的列映射。default 为程序自带的通用格式；本院格式放在配置文件夹的 "
    "his_mappings/名称.toml（见 docs/his-import.md）。",
    check=_mapping_name,
)

# --- monthly claims (issue 8) ---


def _profile_name_problem(name: str) -> str | None:
    from app.rules.profiles import profile_names

    names = profile_names()
    return None if name in names else f"没有名为 {name} 的地区政策；可用：{'、'.join(names)}"


def _agency_code_problem(code: str) -> str | None:
    if code and not re.fullmatch(r"[A-Za-z0-9]{1,32}", code):
        return "应为 1 至 32 位字母或数字（结算机构编码），或留空使用本机构所在城市的行政区划代码"
    return None


CLAIMS_PROFILE: Setting[str] = Setting(
    "claims.profile", str, "guangdong-intra",
    "月度结算地区政策",
    "本院向经办机构申请月度结算时适用的地区政策：申请截止日（广东每月 10 日前，吉林每月 5 日前）、"
    "结算后明细上传期限（5 个工作日）和扣款异议期限（10 个工作日）都按它计算。",
    check=_profile_name_problem,
)
CLAIMS_WARN_WORKING_DAYS: Setting[int] = Setting(
    "claims.warn_working_days", int, 3,
    "截止日提前提醒（工作日）",
    "月度结算申请、明细上传和扣款异议截止日前多少个工作日开始在窗口中提醒。",
    minimum=0,
)
CLAIMS_AGENCY_CODE: Setting[str] = Setting(
    "claims.agency_code", str, "",
    "结算机构编码",
    "审核并支付本院月度结算的经办机构（就医地经办机构）的编码，印在结算表表头；"
    "留空时使用本机构所在城市的行政区划代码。",
    check=_agency_code_problem,
)
CLAIMS_AGENCY_NAME: Setting[str] = Setting(
    "claims.agency_name", str, "",
    "结算机构名称",
    "审核并支付本院月度结算的经办机构名称，印在结算表表头；留空时为“某市社会保险经办机构”。",
)

ALL_SETTINGS: tuple[Setting[Any], ...] = (
    DATABASE_URL,
    COUNTER_NAME,
    LOG_LEVEL,
    LOG_KEEP_FILES,
    BACKUP_KEEP,
    SESSION_IDLE_LOCK_MINUTES,
    # card reader (issue 3)
    CARD_BACKEND,
    CARD_READER,
    CARD_VENDOR_LIBRARY,
    CARD_VENDOR_ITYPE,

    # settlement centre (issue 5)
    CENTRE_INTERFACE,
    CENTRE_URL,
    CENTRE_INSTITUTION_CODE,
    CENTRE_CONNECT_TIMEOUT_MS,
    CENTRE_READ_TIMEOUT_SECONDS,
    CENTRE_MAX_REPLY_MIB,
    CENTRE_CA_FILE,
    CENTRE_PING_SECONDS,
    CENTRE_UPLOAD_AFTER_IMPORT,  # lines up during the stay (issue 25)
    CENTRE_UPLOAD_DAILY_AT,

    # slip and printing (issue 7)
    SLIP_PAPER,
    SLIP_ARCHIVE_DIR,
    SLIP_PRINTER,

    # charges (issue 6)
    HIS_MAPPING,

    # monthly claims (issue 8)
    CLAIMS_PROFILE,
    CLAIMS_WARN_WORKING_DAYS,
    CLAIMS_AGENCY_CODE,
    CLAIMS_AGENCY_NAME,
)
_BY_KEY: dict[str, Setting[Any]] = {s.key: s for s in ALL_SETTINGS}


def setting_by_key(key: str) -> Setting[Any]:
    try:
        return _BY_KEY[key]
    except KeyError:
        known = "、".join(_BY_KEY)
        raise ConfigurationError(f"没有名为 {key} 的设置项。可用的设置项：{known}") from None


class Settings:
    """The settings of one counter, read from and written to one TOML file."""

    def __init__(self, path: Path, values: dict[str, Any] | None = None) -> None:
        self.path = path
        self._values: dict[str, Any] = dict(values or {})

    @classmethod
    def load(cls, path: Path) -> Settings:
        if not path.exists():
            return cls(path)
        try:
            with path.open("rb") as handle:
                document = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"设置文件 {path} 格式错误：{exc}") from exc
        values: dict[str, Any] = {}
        for key, value in _flatten(document):
            spec = _BY_KEY.get(key)
            if spec is None:
                # Kept as is (a newer version may know it), but said so.
                log.warning("设置文件 %s 中有未知的设置项 %s，已忽略", path, key)
                values[key] = value
                continue
            try:
                values[key] = spec.validate(value)
            except ConfigurationError as exc:
                raise ConfigurationError(f"设置文件 {path}：{exc.message}") from None
        return cls(path, values)

    def get(self, setting: Setting[T]) -> T:
        value = self._values.get(setting.key, setting.default)
        return value  # type: ignore[no-any-return]

    def set(self, setting: Setting[T], value: T) -> None:
        self._values[setting.key] = setting.validate(value)

    def reset(self, setting: Setting[Any]) -> None:
        self._values.pop(setting.key, None)

    def is_default(self, setting: Setting[Any]) -> bool:
        return setting.key not in self._values

    def items(self) -> Iterator[tuple[Setting[Any], Any]]:
        for spec in ALL_SETTINGS:
            yield spec, self.get(spec)

    def database_url(self) -> str | None:
        """The configured database: `WI_COUNTER_DB_URL` first, then the setting; None means local SQLite."""
        return os.environ.get(DB_URL_ENV) or self.get(DATABASE_URL) or None

    def save(self) -> None:
        """Write atomically: a crash mid-write must not leave a half-written settings file. User-only,
        through a fresh temporary file (`app.private_files`): no symlink planted beside it is followed."""
        from app.private_files import write_private

        write_private(self.path, tomlkit.dumps(self._document()).encode("utf-8"))

    def _document(self) -> tomlkit.TOMLDocument:
        """The file as the site wrote it (comments, order, spacing), with our values put in.

        tomlkit keeps what tomllib drops, so an IT person's notes survive every save (issue 24 §6).
        """
        document = tomlkit.document()
        if self.path.exists():
            try:
                document = tomlkit.parse(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
                document = tomlkit.document()  # unreadable now: written afresh from the values
        for key in _BY_KEY:
            if key not in self._values:
                _remove(document, key.split("."))
        for key, value in self._values.items():
            _put(document, key.split("."), value)
        return document


def _put(table: Any, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        if part not in table or not isinstance(table[part], dict):
            table[part] = tomlkit.table()
        table = table[part]
    table[path[-1]] = value


def _remove(table: Any, path: list[str]) -> None:
    for part in path[:-1]:
        if part not in table or not isinstance(table[part], dict):
            return
        table = table[part]
    if path[-1] in table:
        del table[path[-1]]


def _flatten(document: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in document.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{full}.")
        else:
            yield full, value
