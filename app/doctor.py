"""`wi-counter doctor`: what a hospital's IT person checks on a new counter (issue 24 §5).

Each check gives one line: ok / warning / error, what was found and, unless ok, what to do.
A check that fails in an unforeseen way is itself an error line: the doctor never crashes and
never stops at the first problem. The checks that need the outer layers (the card reader, the
printer, the test page) are handed in by the composition root (app/cli/doctor.py), so this module
stays free of Qt and devices.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from app.business_date import business_today

if TYPE_CHECKING:
    from app.paths import AppPaths
    from app.settings import Settings

log = logging.getLogger(__name__)

CLOCK_WARNING_SECONDS = 60  # a slip's time and the centre's must agree; beyond this the IT person hears of it
CLOCK_ERROR_SECONDS = 300
DISK_WARNING_BYTES = 2 * 1024**3
DISK_ERROR_BYTES = 300 * 1024**2
CENTRE_TIMEOUT_SECONDS = 5.0


class Level(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"

    @property
    def label(self) -> str:
        return {"ok": "正常", "warning": "注意", "error": "错误"}[self.value]


@dataclass(frozen=True)
class Finding:
    topic: str
    level: Level
    found: str
    todo: str = ""

    def as_json(self) -> dict[str, str]:
        return {"topic": self.topic, "level": self.level.value, "found": self.found, "todo": self.todo}

    def line(self) -> str:
        text = f"[{self.level.label}] {self.topic}：{self.found}"
        return f"{text}\n        → {self.todo}" if self.todo else text


Check = Callable[[], Finding]


def run(checks: Iterable[tuple[str, Check]]) -> list[Finding]:
    """Every check, in order; one that raises is reported as that topic's error."""
    findings: list[Finding] = []
    for topic, check in checks:
        try:
            findings.append(check())
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
            log.warning("检查“%s”出错", topic, exc_info=True)
            findings.append(Finding(topic, Level.ERROR, f"检查时出错：{exc}", "查看日志；仍不明白请联系软件供应商"))
    return findings


# --- the checks of the core ---------------------------------------------------------------


def check_database(open_engine: Callable[[], object], current: Callable[[object], str | None],
                   head: str, description: str) -> Finding:
    topic = "数据库"
    try:
        engine = open_engine()
    except Exception as exc:  # noqa: BLE001
        return Finding(topic, Level.ERROR, f"无法连接（{description}）：{exc}",
                       "检查数据库服务器是否运行、地址和密码（wi-counter secret set database）是否正确")
    revision = current(engine)
    if revision == head:
        return Finding(topic, Level.OK, f"{description}，结构已是最新（{head}）")
    if revision is None:
        return Finding(topic, Level.WARNING, f"{description}，尚未建表", "运行 wi-counter db upgrade")
    return Finding(topic, Level.WARNING, f"{description}，结构版本 {revision}，最新为 {head}",
                   "先备份，再运行 wi-counter db upgrade")


def check_secret(name: str, label: str, present: bool | None, todo: str) -> Finding:
    topic = label
    if present is None:
        return Finding(topic, Level.ERROR, "无法读取（没有可用的密钥环）", todo)
    if present:
        return Finding(topic, Level.OK, f"已保存在密钥环（{name}）")
    return Finding(topic, Level.ERROR, f"密钥环中没有 {name}", todo)


def check_keyring(secure: bool, description: str) -> Finding:
    if secure:
        return Finding("密钥环", Level.OK, description)
    return Finding("密钥环", Level.ERROR, f"没有安全的密钥存储（{description}）",
                   "Windows：启用“凭据管理器”服务；Linux：安装并解锁 GNOME Keyring 或 KWallet")


def check_centre(url: str, verify: bool | str, now: Callable[[], dt.datetime] | None = None) -> Finding:
    """Reachable is any HTTP answer; the clock is the answer's Date header against ours."""
    import httpx

    topic = "结算中心"
    clock = now or (lambda: dt.datetime.now(dt.timezone.utc))
    try:
        response = httpx.get(url, timeout=CENTRE_TIMEOUT_SECONDS, verify=verify, follow_redirects=False)
    except httpx.HTTPError as exc:
        log.info("中心不可达：%s", exc)
        return Finding(topic, Level.ERROR, "连接不上（超时或被拒绝）",
                       "检查网线/专网、防火墙和设置中的中心地址（centre.url）；仍不通请联系经办机构")
    date = response.headers.get("date")
    if not date:
        return Finding(topic, Level.WARNING, "可以连接，但中心没有给出时间，无法比对时钟",
                       "请确认本机时间与北京时间一致（Windows：设置→时间和语言→立即同步）")
    theirs = email.utils.parsedate_to_datetime(date)
    skew = (clock() - theirs).total_seconds()
    ahead = "快" if skew > 0 else "慢"
    if abs(skew) >= CLOCK_ERROR_SECONDS:
        return Finding(topic, Level.ERROR, f"可以连接；本机时钟比中心{ahead} {abs(skew):.0f} 秒",
                       "结算单与中心记录的时间会对不上：请校准本机时间（开启自动对时）")
    if abs(skew) >= CLOCK_WARNING_SECONDS:
        return Finding(topic, Level.WARNING, f"可以连接；本机时钟比中心{ahead} {abs(skew):.0f} 秒",
                       "请校准本机时间（开启自动对时）")
    return Finding(topic, Level.OK, f"可以连接，时钟相差 {abs(skew):.0f} 秒")


def check_calendar(missing_message: str | None, years: tuple[int, int]) -> Finding:
    topic = "节假日安排"
    if missing_message is None:
        return Finding(topic, Level.OK, f"{years[0]}、{years[1]} 年均已导入")
    return Finding(topic, Level.WARNING, missing_message,
                   "国务院办公厅发布放假安排后导入：wi-counter calendar import 文件.toml")


def check_disk(folder: Path, usage: Callable[[Path], int] | None = None) -> Finding:
    topic = "磁盘空间"
    free = (usage or (lambda p: shutil.disk_usage(p).free))(folder)
    text = f"数据文件夹所在磁盘剩余 {free / 1024**3:.1f} GB（{folder}）"
    if free < DISK_ERROR_BYTES:
        return Finding(topic, Level.ERROR, text, "立即清理磁盘或把数据移到更大的磁盘；空间不足时结算可能无法保存")
    if free < DISK_WARNING_BYTES:
        return Finding(topic, Level.WARNING, text, "尽快清理磁盘（旧备份在 backups 文件夹）")
    return Finding(topic, Level.OK, text)


def check_writable(topic: str, folder: Path) -> Finding:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return Finding(topic, Level.ERROR, f"{folder} 不可写：{exc.strerror or exc}",
                       "给当前 Windows/Linux 用户该文件夹的写权限，或用 --home 指定别的文件夹")
    return Finding(topic, Level.OK, f"{folder} 可写")


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when anything is an error: a script installing counters can stop there."""
    return 1 if any(finding.level is Level.ERROR for finding in findings) else 0


# --- the standard list, as `wi-counter doctor` and the 设置 page run it ------------------------------


@dataclass(frozen=True)
class OuterProbes:
    """What the front end hands in: the card reader (devices), the printers (Qt) and the test page (printing)."""

    reader: Callable[[Settings], tuple[str, str, str]]  # (level, found, todo)
    printers: Callable[[], tuple[str | None, list[str]]]  # (default printer, all printers)
    test_page: Callable[[str, dt.datetime], bytes]  # (counter name, time) → PDF


def standard_checks(paths: AppPaths, settings: Settings, db_override: str | None,
                    probes: OuterProbes, today: dt.date | None = None) -> list[tuple[str, Check]]:
    day = today or business_today()
    return [
        ("读卡器", lambda: _reader(settings, probes)),
        ("结算中心", lambda: _centre(settings)),
        ("数据库", lambda: _database(paths, settings, db_override)),
        ("密钥环", _keyring),
        ("中心签名密钥", lambda: _centre_key(paths.demo)),
        ("审计密钥", _audit_key),
        ("打印机", lambda: _printer(probes)),
        ("测试页", lambda: _test_page(paths.log_dir, settings, probes)),
        ("节假日安排", lambda: _calendar(paths.config_dir, day)),
        ("磁盘空间", lambda: check_disk(paths.data_dir)),
        ("数据文件夹", lambda: check_writable("数据文件夹", paths.data_dir)),
        ("日志文件夹", lambda: check_writable("日志文件夹", paths.log_dir)),
    ]


def _reader(settings: Settings, probes: OuterProbes) -> Finding:
    level, found, todo = probes.reader(settings)
    return Finding("读卡器", Level(level), found, todo)


def _centre(settings: Settings) -> Finding:
    from app.settings import CENTRE_CA_FILE, CENTRE_URL

    ca_file = settings.get(CENTRE_CA_FILE)
    return check_centre(settings.get(CENTRE_URL), ca_file or True)


def _database(paths: AppPaths, settings: Settings, db_override: str | None) -> Finding:
    from app.bootstrap import database_url
    from app.db import migrate
    from app.db.engine import describe, make_engine
    from app.db.preflight import sqlite_path

    url = database_url(paths, settings, db_override)
    database_file = sqlite_path(url)
    if database_file is not None and not database_file.exists():
        # Connecting would create an empty file, which the start-up check then questions.
        return Finding("数据库", Level.WARNING, f"SQLite 数据库 {database_file} 尚未创建",
                       "第一次打开收费窗口或运行 wi-counter db upgrade 时创建")
    engine = make_engine(url)
    try:
        def connected() -> object:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return engine

        return check_database(connected, lambda _: migrate.current_revision(engine), migrate.head_revision(),
                              describe(engine))
    finally:
        engine.dispose()


def _keyring() -> Finding:
    from app.secret_store import describe_store, secure_store_available

    return check_keyring(secure_store_available(), describe_store())


def _secret_present(name: str) -> bool | None:
    from app.secret_store import get_secret, secure_store_available

    if not secure_store_available():
        return None
    return get_secret(name) is not None


def _centre_key(demo: bool) -> Finding:
    from app.secret_store import CENTRE_KEY

    if demo:
        return Finding("中心签名密钥", Level.OK, "演示模式使用演示中心的密钥")
    return check_secret(CENTRE_KEY, "中心签名密钥", _secret_present(CENTRE_KEY),
                        "向经办机构领取本院的签名密钥，用 wi-counter secret set centre-key 保存")


def _audit_key() -> Finding:
    from app.secret_store import AUDIT_KEY

    present = _secret_present(AUDIT_KEY)
    if present is False:
        return Finding("审计密钥", Level.WARNING, "密钥环中还没有审计密钥（第一次记审计日志时自动生成）",
                       "多个窗口共用数据库时，须从第一台窗口导出同一把密钥再导入本机（wi-counter secret set audit-key）")
    return check_secret(AUDIT_KEY, "审计密钥", present, "从备份恢复审计密钥（wi-counter secret set audit-key）")


def _printer(probes: OuterProbes) -> Finding:
    try:
        default, names = probes.printers()
    except ImportError as exc:
        return Finding("打印机", Level.WARNING, f"无法查询打印机（{exc}）", "在收费窗口中按 F9 打印一次试试")
    if default:
        return Finding("打印机", Level.OK, f"默认打印机：{default}（共 {len(names)} 台）")
    if names:
        return Finding("打印机", Level.WARNING, f"有 {len(names)} 台打印机，但没有默认打印机",
                       "在系统设置中设一台默认打印机，或在窗口的“选择打印机”中选定")
    return Finding("打印机", Level.WARNING, "本机没有安装打印机（结算单仍可存为 PDF）",
                   "安装结算单打印机的驱动并设为默认")


def _test_page(log_dir: Path, settings: Settings, probes: OuterProbes) -> Finding:
    from app.private_files import write_private
    from app.settings import COUNTER_NAME

    content = probes.test_page(settings.get(COUNTER_NAME), dt.datetime.now())
    target = log_dir / "打印测试页.pdf"
    write_private(target, content)
    if b"/FontFile2" not in content:
        return Finding("测试页", Level.ERROR, "测试页没有嵌入中文字体", "程序文件不完整，请重新安装")
    return Finding("测试页", Level.OK, f"已生成 {target}（中文字体已嵌入），可打印出来量一量边距")


def _calendar(config_dir: Path, today: dt.date) -> Finding:
    from app.claims.calendar import load_calendar, missing_years_message

    calendar = load_calendar(config_dir)
    return check_calendar(missing_years_message(calendar, today.year, today.year + 1), (today.year, today.year + 1))
