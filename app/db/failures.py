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
    """This counter's database could not read or write; `message` is for the clerk."""


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


def centre_done(error: BaseException, what: str) -> StorageFailure:
    """The centre did the work, but this counter could not record it."""
    return StorageFailure(
        f"{cause(error)}：结算中心已办理这笔{what}，但本机未能记录。请勿让患者重复缴费或离开前重复办理；"
        f"请排除故障（清理磁盘空间或恢复数据库服务）后再次点击办理或重新启动本程序："
        f"本机会先向结算中心查询这笔{what}的结果并补记，不会重复结算。")


def outcome_unrecorded(error: BaseException, what: str) -> StorageFailure:
    """The call left, but neither its answer nor its loss could be recorded."""
    return StorageFailure(
        f"{cause(error)}：这笔{what}已发送到结算中心，本机未能记录结果。"
        f"请排除故障后再次点击办理或重新启动本程序：本机会先向结算中心查询这笔{what}的结果并补记，不会重复结算。")
