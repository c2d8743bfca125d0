"""The window tells the clerk what start-up recovery did after a crash (`docs/crash-safety.md`)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from app.settings import CENTRE_URL, SLIP_ARCHIVE_DIR
from app.slips import archive_folder
from ui.main_window import MainWindow
from ui.qt import QMessageBox

pytestmark = [pytest.mark.gui, pytest.mark.crash]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_window_shows_what_was_recovered_at_start(
    qtbot: QtBot, demo_ctx: CounterContext, operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> None:
    # A counter killed while issuing a slip, before the print was on record, a while ago; the
    # centre is down now: the local part of the recovery still runs on the first probe.
    demo_ctx.settings.set(CENTRE_URL, f"http://127.0.0.1:{_closed_port()}")
    folder = archive_folder(demo_ctx.settings.get(SLIP_ARCHIVE_DIR), demo_ctx.paths.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / ".结算单_X_20261203_原件.pdf.part"
    part.write_bytes(b"%PDF-1.4 half")
    old = time.time() - 120
    os.utime(part, (old, old))

    window = MainWindow(demo_ctx, operator_of(demo_ctx, "cashier"), institution_of(demo_ctx))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "recoveryBox") is not None, timeout=10000)
    box = window.findChild(QMessageBox, "recoveryBox")
    assert box is not None and box.isVisible()
    assert box.text() == "已恢复：未记录的结算单打印 1 份已清除（请重新打印）"
    assert not part.exists()
    box.close()
