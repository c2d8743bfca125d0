"""What a clerk reads when this counter's own database fails (disk full, file read-only, PostgreSQL
stopped or its connection cut): what happened, whether the centre already did the work, and what
the counter does next — never the database driver's text, which goes to the log (issue 21 §8).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.errors import WiCounterError

# What the database could not do, by the driver's words (SQLite and PostgreSQL/psycopg).
_CAUSES = (
    (("disk is full", "no space left", "disk full", "could not extend file"), "本机磁盘空间已满"),
    (("readonly database", "read-only", "read only", "permission denied", "unable to open database"),
     "本机数据库文件无法写入（只读或无权限）"),
    (("terminating connection", "server closed the connection", "connection refused", "connection is closed",
      "the connection is lost", "could not connect", "consuming input failed", "connection failed",
      "shutting down", "admin shutdown"), "与数据库服务器的连接已断开（数据库服务可能已停止）"),
    (("database is locked",), "数据库正被其他程序占用"),
    (("disk i/o error", "malformed", "not a database", "corrupt"), "本机数据库文件读写出错（可能已损坏）"),
)


class StorageFailure(WiCounterError):
    """This counter's database could not read or write; `message` is for the clerk. `sent`: the call
    had already left for the centre (which did, or may have done, the work): a page must then not
    call it 未登记 / 未结算 / 未撤销."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


def is_storage_failure(error: BaseException) -> bool:
    """True for the database's own failure (not a constraint or a program error)."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def cause(error: BaseException) -> str:
    """The failure in a few Chinese words."""
    text = str(getattr(error, "orig", None) or error).lower()
    for words, said in _CAUSES:
        if any(word in text for word in words):
            return said
    return "本机数据库无法读写"


def not_sent(error: BaseException, what: str) -> StorageFailure:
    """The database failed before the call left: the centre did nothing."""
    return StorageFailure(
        f"{cause(error)}，{what}未能记录，没有发送到结算中心，结算中心未办理。"
        f"请排除故障（清理磁盘空间或恢复数据库服务）后重新办理{what}。")


def _on_restart(what: str, at_the_window: bool) -> str:
    again = "不会重复结算" if at_the_window else f"不会重复办理这笔{what}"
    return f"本机会先向结算中心查询这笔{what}的结果并补记，{again}。"


def centre_done(error: BaseException, what: str, *, at_the_window: bool = False) -> StorageFailure:
    """The centre did the work, but this counter could not record it. `at_the_window`: the patient
    pays at the window (出院结算), so the clerk is told not to take the money twice."""
    warning = "请勿让患者重复缴费或离开前重复办理；" if at_the_window else ""
    return StorageFailure(
        f"{cause(error)}：结算中心已办理这笔{what}，但本机未能记录。{warning}"
        f"请排除故障（清理磁盘空间或恢复数据库服务）后再次点击办理或重新启动本程序：{_on_restart(what, at_the_window)}",
        sent=True)


def outcome_unrecorded(error: BaseException, what: str, *, at_the_window: bool = False) -> StorageFailure:
    """The call left, but neither its answer nor its loss could be recorded."""
    return StorageFailure(
        f"{cause(error)}：这笔{what}已发送到结算中心，本机未能记录结果。"
        f"请排除故障后再次点击办理或重新启动本程序：{_on_restart(what, at_the_window)}", sent=True)
