"""The status bar: card reader, settlement centre, database, and who is logged in.

The reader label follows the card reader service (`watch_reader`). The database is checked
with `SELECT 1` on the database worker when the window opens and every 30 seconds. The centre is probed off the GUI
thread (`app.workflow.centre_monitor`: one short request, connect timeout ~1.5 s) when the window
opens and every `centre.ping_interval_seconds`; the label shows the last answer at once, so
an unreachable centre never freezes the window. A probe that finds the centre reachable
first resolves any outbox entry whose outcome is still unknown.

On the left, the day-end reconciliation's open differences (`show_reconciliation`; a click emits
`reconciliation_clicked`), and the claim deadlines that need attention (`show_deadlines`, fed by the 月度结算 page):
"月度结算：2 项即将到期，1 项已逾期", each listed in its tooltip; a click emits `deadlines_clicked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.audit import AUDIT_KEY_MISSING, trail_key_missing
from app.bootstrap import CounterContext
from app.composition import open_counter_centre
from app.operators import OperatorInfo
from app.settings import CENTRE_PING_SECONDS
from app.workflow.centre_monitor import CentreLink, CentreMonitor, LinkState
from ui.card_reader import CardReaderService
from ui.operations import Executor, Operation, clerk_message
from ui.qt import QFrame, QLabel, QMouseEvent, QStatusBar, Qt, QTimer, QWidget, Signal
from ui.widgets import ERROR_COLOUR, NOTICE_COLOUR

if TYPE_CHECKING:
    from app.claims.watch import Watched

DATABASE_CHECK_INTERVAL_MS = 30_000


class ClickableLabel(QLabel):
    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class CounterStatusBar(QStatusBar):
    """Emits `centre_link_changed` (on the GUI thread) after each probe; `centre_link` is its answer.
    Emits `deadlines_clicked` when the clerk clicks the deadline warning."""

    centre_link_changed = Signal()
    deadlines_clicked = Signal()
    reconciliation_clicked = Signal()

    def __init__(self, ctx: CounterContext, operator: OperatorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._checking = False
        self._probing = False
        self._labels: list[QLabel] = []
        self.deadline_label = ClickableLabel("", self)
        self.deadline_label.setObjectName("deadlineStatus")
        self.deadline_label.setContentsMargins(6, 0, 6, 0)
        self.deadline_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.deadline_label.clicked.connect(self.deadlines_clicked)
        self.addWidget(self.deadline_label)
        self.deadline_label.hide()
        self.reconciliation_label = ClickableLabel("", self)
        self.reconciliation_label.setObjectName("reconciliationStatus")
        self.reconciliation_label.setContentsMargins(6, 0, 6, 0)
        self.reconciliation_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.reconciliation_label.clicked.connect(self.reconciliation_clicked)
        self.addWidget(self.reconciliation_label)
        self.reconciliation_label.hide()
        self.reader_label = self._permanent("readerStatus", self.tr("读卡器：检测中…"))
        self._reader: CardReaderService | None = None
        self.centre_label = self._permanent("centreStatus", self.tr("结算中心：检测中…"))
        self.database_label = self._permanent(
            "databaseStatus", self.tr("数据库：{database} 检查中…").format(database=ctx.database_description)
        )
        # Shown only while the trail is keyed and this counter's keyring lacks the audit key (app.audit).
        self.audit_key_label = QLabel(self.tr("审计密钥缺失"), self)
        self.audit_key_label.setObjectName("auditKeyStatus")
        self.audit_key_label.setContentsMargins(6, 0, 6, 0)
        self.audit_key_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.audit_key_label.setToolTip(AUDIT_KEY_MISSING)
        self.addWidget(self.audit_key_label)
        self.audit_key_label.hide()
        self.operator_label = self._permanent(
            "operatorStatus",
            self.tr("操作员：{name}（{role}）").format(name=operator.display_name, role=operator.role_label),
        )
        self._timer = QTimer(self)
        self._timer.setInterval(DATABASE_CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check_database)
        self._timer.start()
        self.check_database()
        self.centre_link: CentreLink | None = None
        self.centre_monitor = CentreMonitor(ctx, open_counter_centre)
        self._centre_timer = QTimer(self)
        self._centre_timer.setInterval(ctx.settings.get(CENTRE_PING_SECONDS) * 1000)
        self._centre_timer.timeout.connect(self.check_centre)
        self._centre_timer.start()
        self.check_centre()

    def _permanent(self, name: str, text: str) -> QLabel:
        if self._labels:
            separator = QFrame(self)
            separator.setFrameShape(QFrame.Shape.VLine)
            separator.setFrameShadow(QFrame.Shadow.Sunken)
            self.addPermanentWidget(separator)
        label = QLabel(text, self)
        label.setObjectName(name)
        label.setContentsMargins(6, 0, 6, 0)
        self.addPermanentWidget(label)
        self._labels.append(label)
        return label

    def watch_reader(self, reader: CardReaderService) -> None:
        if self._reader is not None:
            self._reader.readers_changed.disconnect(self._reader_changed)
        self._reader = reader
        reader.readers_changed.connect(self._reader_changed)
        self._reader_text(self.tr("读卡器：检测中…"), error=False)

    def _reader_changed(self) -> None:
        reader = self._reader
        if reader is None:
            return
        if reader.unavailable is not None:
            self._reader_text(self.tr("读卡器：{problem}").format(problem=reader.unavailable.message), error=True)
        elif not reader.readers:
            self._reader_text(self.tr("读卡器：未检测到读卡器"), error=True)
        else:
            states = reader.readers
            watched = next((s for s in states if s.name == reader.watched_reader), states[0])
            card = self.tr("有卡") if watched.card_present else self.tr("无卡")
            self._reader_text(self.tr("读卡器：{name}（{card}）").format(name=watched.name, card=card), error=False)

    def _reader_text(self, text: str, error: bool) -> None:
        self.reader_label.setText(text)
        self.reader_label.setToolTip(text)  # a long reader name or problem may be cut on a narrow screen
        self.reader_label.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")

    def check_database(self) -> None:
        if self._checking:
            return  # the previous check still waits for a slow database: do not pile up
        self._checking = True
        Operation(self, self._ctx.check_database).success(self._database_ok).failure(self._database_failed).run()

    def _database_ok(self, _: None) -> None:
        self._checking = False
        Operation.transaction(self, self._ctx, trail_key_missing).success(self._show_audit_key).run()
        self.database_label.setStyleSheet("")
        self.database_label.setText(self.tr("数据库：{database} 正常").format(database=self._ctx.database_description))
        self.database_label.setToolTip("")

    def _show_audit_key(self, missing: bool) -> None:
        self.audit_key_label.setVisible(missing)

    def _database_failed(self, error: BaseException) -> None:
        self._checking = False
        self.database_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.database_label.setText(self.tr("数据库：连接失败"))
        self.database_label.setToolTip(f"{self._ctx.database_description}：{clerk_message(error)}")

    def check_centre(self) -> None:
        if self._probing:
            return  # the previous probe is still waiting (at most the connect timeout)
        self._probing = True
        Operation(self, self.centre_monitor.probe, executor=Executor.BACKGROUND) \
            .success(self._centre_answered).failure(self._centre_probe_failed).run()

    def _centre_answered(self, link: CentreLink) -> None:
        self._probing = False
        self._show_centre(link)
        if link.queued_entries:
            self.centre_label.setText(self.centre_label.text() + self.tr("，{count} 笔待补登记").format(
                count=link.queued_entries))
        self.centre_link = link
        self.centre_link_changed.emit()

    @property
    def centre_online(self) -> bool | None:
        """True / False after a probe answered (None before the first, or when no centre is set up)."""
        link = self.centre_link
        if link is None:
            return None
        if link.state in (LinkState.ONLINE, LinkState.ONLINE_WITH_OPEN):
            return True
        return False if link.state is LinkState.OFFLINE else None

    def _show_centre(self, link: CentreLink) -> None:
        if link.state is LinkState.ONLINE:
            self.centre_label.setStyleSheet("")
            self.centre_label.setText(self.tr("结算中心：已连接"))
            self.centre_label.setToolTip(link.url)
        elif link.state is LinkState.ONLINE_WITH_OPEN:
            self.centre_label.setStyleSheet(f"color: {NOTICE_COLOUR};")
            self.centre_label.setText(
                self.tr("结算中心：已连接，{count} 笔交易结果待查询").format(count=link.open_entries)
            )
            self.centre_label.setToolTip(link.url)
        elif link.state is LinkState.OFFLINE:
            self.centre_label.setStyleSheet(f"color: {ERROR_COLOUR};")
            self.centre_label.setText(self.tr("结算中心：无法连接（脱机）"))
            self.centre_label.setToolTip(f"{link.url}\n{link.detail}")
        else:
            self.centre_label.setStyleSheet(f"color: {NOTICE_COLOUR};")
            self.centre_label.setText(self.tr("结算中心：未配置"))
            self.centre_label.setToolTip(link.detail)

    def show_deadlines(self, watched: Sequence[Watched]) -> None:
        """The claim deadlines that need attention (due soon or overdue); hidden when none do."""
        urgent = [w for w in watched if w.needs_attention]
        overdue = sum(1 for w in urgent if w.status.state == "overdue")
        soon = len(urgent) - overdue
        if not urgent:
            self.deadline_label.hide()
            self.deadline_label.setText("")
            self.deadline_label.setToolTip("")
            return
        parts = []
        if soon:
            parts.append(self.tr("{count} 项即将到期").format(count=soon))
        if overdue:
            parts.append(self.tr("{count} 项已逾期").format(count=overdue))
        self.deadline_label.setText(self.tr("月度结算：{parts}").format(parts="，".join(parts)))
        self.deadline_label.setStyleSheet(
            f"color: {ERROR_COLOUR if overdue else NOTICE_COLOUR}; font-weight: bold;")
        lines = [self.tr("{subject}：{message}（{source}）").format(
            subject=w.deadline.subject, message=w.status.message, source=w.deadline.source) for w in urgent]
        self.deadline_label.setToolTip("\n".join(lines) + "\n" + self.tr("单击打开“月度结算”"))
        self.deadline_label.show()

    def show_reconciliation(self, open_differences: int) -> None:
        """The day-end reconciliation's differences still waiting for a reviewer; hidden when none."""
        if open_differences <= 0:
            self.reconciliation_label.hide()
            self.reconciliation_label.setText("")
            return
        self.reconciliation_label.setText(self.tr("对账：{count} 笔差异待处理").format(count=open_differences))
        self.reconciliation_label.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
        self.reconciliation_label.setToolTip(self.tr("与结算中心对账不一致，单击查看并处理"))
        self.reconciliation_label.show()

    def _centre_probe_failed(self, error: BaseException) -> None:
        self._probing = False
        self.centre_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.centre_label.setText(self.tr("结算中心：检测出错"))
        self.centre_label.setToolTip(clerk_message(error))
