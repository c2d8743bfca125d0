"""The 费用与伤病分离 page's views: the lines table model (20,000 rows, nothing built per row until
a row is drawn) and the slip's matrix preview.

The model holds the workspace's `LineView` tuples and formats a cell only when the view asks
for it, so resetting it with a whole stay costs next to nothing on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, cast

from app.rules.case import CATEGORIES
from app.rules.settlement import BUCKET_LABELS, BUCKETS, CATEGORY_LABELS, FUND, NON_INJURY, OVER_LIMIT, SELF_PAY
from app.rules.settlement import SettlementResult
from app.slips import money_text
from app.workflow.discharge_review import ReviewItem
from app.workflow.separation import MATCH_LABELS, LineView
from ui.pages.preaudit_widgets import SEVERITY_COLOURS, badge_text, strongest, tooltip_text
from ui.qt import (
    QAbstractItemView,
    QBrush,
    QColor,
    QCoreApplication,
    QHeaderView,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    QStandardItemModel,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

# Light backgrounds per bucket, dark text stays readable on each (the legend repeats them).
BUCKET_COLOURS = {
    FUND: "#e8f5e9",  # green: the fund pays
    OVER_LIMIT: "#fff8e1",  # amber: partly the worker's
    SELF_PAY: "#fbe9e7",  # orange-red: the worker's, outside the catalogue
    NON_INJURY: "#ede7f6",  # violet: not the injury
}
UNCLASSIFIED_COLOUR = "#ffcdd2"  # red: must be classified before settlement
CATEGORY_SHORT = {"drug": "药品", "treatment": "诊疗", "consumable": "耗材", "rehab": "康复", "device": "辅助器具"}


def _tr(text: str) -> str:
    return QCoreApplication.translate("ChargesPage", text)


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _price(value: Decimal) -> str:
    """Two places as on a bill (18.50), more only when the price has them (0.1250 元/片)."""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == value else f"{value.normalize():f}"


def _override_text(line: LineView) -> str:
    if not line.overridden:
        return ""
    return _tr("已审核") if line.override_approved else _tr("待审核")


def _outside_text(line: LineView) -> str:
    if not line.out_of_catalogue:
        return ""
    return _tr("目录外·已告知") if line.patient_informed else _tr("目录外·未告知")


# (header, cell text) — the order of the table's columns.
COLUMNS: tuple[tuple[str, Callable[[LineView], str]], ...] = (
    ("序号", lambda line: str(line.seq)),
    ("日期", lambda line: line.charged_on.isoformat()),
    ("HIS编码", lambda line: line.his_code),
    ("目录编码", lambda line: line.code or ""),
    ("名称", lambda line: line.name),
    ("类别", lambda line: _tr(CATEGORY_SHORT[line.category_value]) if line.category_value in CATEGORY_SHORT else ""),
    ("数量", lambda line: _quantity(line.quantity)),
    ("单价", lambda line: _price(line.unit_price)),
    ("金额", lambda line: money_text(line.amount)),
    ("科室", lambda line: line.dept or ""),
    ("医嘱组", lambda line: line.order_group or ""),
    ("随诊断", lambda line: line.follows),
    ("分类", lambda line: line.bucket_label),
    ("理由", lambda line: line.reason),
    ("目录", lambda line: _outside_text(line) or MATCH_LABELS.get(line.match_status, "")),
    ("改判", _override_text),
    ("已上传", lambda line: _tr("是") if line.uploaded else ""),
    ("预审", lambda line: ""),  # the model's findings, not the line's (see LinesModel.data)
)
NUMERIC_COLUMNS = {0, 6, 7, 8}
AMOUNT_COLUMN = 8
BUCKET_COLUMN = 12
PREAUDIT_COLUMN = 17
# The roles the model answers (the others are None); a delegate asks for more, they are cleared.
CELL_ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole,
              Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole)
CACHED_ROWS = 2000  # a few screens' worth; a scroll through 20,000 rows does not keep them all


class LinesModel(QStandardItemModel):
    """The lines shown (after the filters), by seq.

    A QStandardItemModel without items: its row and column counts, `index()`, `parent()` and `flags()`
    stay in C++, so painting a cell crosses into Python once (`multiData`), not three times (a Python
    table model's `index()` asks Python for `rowCount` and `columnCount` for every cell). Each crossing
    must win the GIL back from a busy worker thread (the import, the audit): with 450 cells on screen
    that was the window's longest stall (bench/workflow.py)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self._lines: Sequence[LineView] = ()
        self.setHorizontalHeaderLabels([_tr(header) for header, _ in COLUMNS])
        self._brushes = {bucket: QBrush(QColor(colour)) for bucket, colour in BUCKET_COLOURS.items()}
        self._unclassified = QBrush(QColor(UNCLASSIFIED_COLOUR))
        self._warning = QBrush(QColor("#c62828"))
        self._severity = {severity: QBrush(QColor(colour)) for severity, colour in SEVERITY_COLOURS.items()}
        self._findings: dict[int, tuple[ReviewItem, ...]] = {}
        # Each row's cells as {role: value}, built when the row is first painted: a relayout or a scroll
        # back paints the same rows again without formatting them again. Cleared with the lines or findings.
        self._cells: dict[int, tuple[dict[int, Any], ...]] = {}

    def set_findings(self, findings: dict[int, tuple[ReviewItem, ...]]) -> None:
        """The pre-audit's findings by seq (its badge column); only that column is redrawn."""
        self._findings = findings
        self._cells.clear()
        if self._lines:
            self.dataChanged.emit(self.index(0, PREAUDIT_COLUMN), self.index(len(self._lines) - 1, PREAUDIT_COLUMN))

    @property
    def findings(self) -> dict[int, tuple[ReviewItem, ...]]:
        return self._findings

    def findings_of(self, row: int) -> tuple[ReviewItem, ...]:
        return self._findings.get(self._lines[row].seq, ())

    def set_lines(self, lines: Sequence[LineView]) -> None:
        self.beginResetModel()
        self._lines = lines
        self._cells.clear()
        # The row count is the C++ model's; its own row signals stay quiet inside the reset.
        blocked = self.blockSignals(True)
        try:
            self.setRowCount(len(lines))
        finally:
            self.blockSignals(blocked)
        self.endResetModel()

    @property
    def lines(self) -> Sequence[LineView]:
        return self._lines

    def line(self, row: int) -> LineView:
        return self._lines[row]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return self._value(self._lines[index.row()], index.column(), role)

    def multiData(self, index: QModelIndex | QPersistentModelIndex,  # noqa: N802
                  roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:  # noqa: N803
        """Every role a delegate asks for a cell in one call: a painted cell costs one crossing into Python,
        not seven, which keeps the window responsive while the database thread is busy (bench/workflow.py)."""
        entries: Iterable[QModelRoleData] = (
            (roleDataSpan,) if isinstance(roleDataSpan, QModelRoleData)
            else cast("Iterable[QModelRoleData]", roleDataSpan))  # iterable at run time; the stubs omit it
        cell = self._cell(index.row(), index.column()) if index.isValid() else {}
        for entry in entries:
            value = cell.get(entry.role())
            if value is None:
                entry.clearData()
            else:
                entry.setData(value)

    def _cell(self, row: int, column: int) -> dict[int, Any]:
        cells = self._cells.get(row)
        if cells is None:
            if len(self._cells) > CACHED_ROWS:
                self._cells.clear()
            line = self._lines[row]
            cells = self._cells[row] = tuple(
                {role: value for role in CELL_ROLES if (value := self._value(line, column, role)) is not None}
                for column in range(len(COLUMNS)))
        return cells[column]

    def _value(self, line: LineView, column: int, role: int) -> Any:
        if column == PREAUDIT_COLUMN:
            return self._preaudit_data(line, role)
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[column][1](line)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._brushes.get(line.bucket, self._unclassified) if line.bucket else self._unclassified
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 14 and line.out_of_catalogue and not line.patient_informed:
                return self._warning
            if column == 15 and line.awaiting_approval:
                return self._warning
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 13:
                return line.reason
            if column == 15 and line.override_reason:
                return _tr("改判理由：{reason}").format(reason=line.override_reason)
            if column == 14 and line.out_of_catalogue:
                return _tr("目录外项目：须先告知患者（003 §15）")
        return None

    def _preaudit_data(self, line: LineView, role: int) -> Any:
        items = self._findings.get(line.seq)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._brushes.get(line.bucket, self._unclassified) if line.bucket else self._unclassified
        if not items:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return badge_text(items)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._severity.get(strongest(items))
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_text(items)
        return None


def configure_lines_view(view: QAbstractItemView, header: QHeaderView, vertical: QHeaderView) -> None:
    """Fixed row heights and no per-row sizing: 20,000 rows scroll as fast as 20."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(max(22, view.fontMetrics().height() + 6))
    vertical.hide()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    widths = (56, 90, 110, 100, 180, 60, 60, 70, 80, 90, 80, 150, 150, 260, 110, 60, 56, 120)
    for column, width in enumerate(widths):
        header.resizeSection(column, width)
    # The 预审 badge is shown beside 金额, where the clerk looks, not past the right edge (the model's
    # column order stays as is).
    header.moveSection(header.visualIndex(PREAUDIT_COLUMN), AMOUNT_COLUMN + 1)
    # 分类 right after them: at 1366×768 it was past the right edge (issue 20 §5).
    header.moveSection(header.visualIndex(BUCKET_COLUMN), AMOUNT_COLUMN + 2)
    header.setStretchLastSection(False)


def _two_lines(label: str) -> str:
    return f"{label[:4]}\n{label[4:]}" if len(label) > 4 else label


class MatrixPreview(QTableWidget):
    """The slip's money table (`003 附表3`): 4 buckets × 5 categories + 合计, the slip's own labels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(BUCKETS) + 1, len(CATEGORIES) + 1, parent)
        self.setObjectName("matrixPreview")
        # Two-line headers (康复服务 / 项目费用): six columns fit a 1366×768 window unclipped.
        self.setHorizontalHeaderLabels([_two_lines(_tr(CATEGORY_LABELS[c])) for c in CATEGORIES] + [_tr("合计")])
        self.setVerticalHeaderLabels([_tr(BUCKET_LABELS[b]) for b in BUCKETS] + [_tr("合计")])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)  # compact rows
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = self.verticalHeader().defaultSectionSize() * self.rowCount()
        self.setFixedHeight(rows + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 4)
        self.show_result(None)

    def show_result(self, result: SettlementResult | None) -> None:
        zero = Decimal("0.00")
        for row, bucket in enumerate(BUCKETS):
            for column, category in enumerate(CATEGORIES):
                self._set(row, column, result.matrix[bucket][category] if result else zero)
            self._set(row, len(CATEGORIES), result.row_total(bucket) if result else zero)
        for column, category in enumerate(CATEGORIES):
            total = sum((result.matrix[b][category] for b in BUCKETS), zero) if result else zero
            self._set(len(BUCKETS), column, total)
        self._set(len(BUCKETS), len(CATEGORIES), result.total if result else zero)

    def cell_text(self, bucket: str, category: str | None) -> str:
        """The text shown for a bucket (or "total") and a category (None: the row's 合计)."""
        row = len(BUCKETS) if bucket == "total" else BUCKETS.index(bucket)
        column = len(CATEGORIES) if category is None else CATEGORIES.index(category)
        item = self.item(row, column)
        return item.text() if item is not None else ""

    def _set(self, row: int, column: int, value: Decimal) -> None:
        item = QTableWidgetItem(money_text(value))
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if row < len(BUCKETS):
            item.setBackground(QBrush(QColor(BUCKET_COLOURS[BUCKETS[row]])))
        self.setItem(row, column, item)
