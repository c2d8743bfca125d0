"""A database failure the program did not foresee still reads, for the clerk, as what happened and
what to do — never the driver's text (issue 21 §8)."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from ui.operations import clerk_message


def test_a_full_disk_reads_as_a_full_disk_without_driver_text() -> None:
    error = OperationalError("INSERT INTO charge_line ...", {}, sqlite3.OperationalError("database or disk is full"))
    message = clerk_message(error)
    assert "磁盘空间已满" in message and "不会重复办理" in message
    assert not any(word in message for word in ("sqlite", "OperationalError", "INSERT", "disk is full"))


def test_an_unforeseen_program_error_stays_generic() -> None:
    assert "意外错误" in clerk_message(ValueError("boom"))


def test_the_workflow_pages_read_a_database_failure_as_one_too() -> None:
    """The 入院登记 / 出院结算 / 月度结算 pages word failures with `error_text`: a storage failure no
    service mapped still names its cause there, not "意外错误" (issue 21 §8)."""
    from ui.pages.workflow_widgets import error_text

    error = OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
    message = error_text(error)
    assert "磁盘空间已满" in message and "意外错误" not in message
    assert not any(word in message for word in ("sqlite", "OperationalError", "COMMIT", "disk is full"))
