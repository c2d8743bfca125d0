"""A small horizontal bar chart for the 月度结算 page, drawn with QPainter (no QtCharts).

One row per bar: the label on the left, the bar (its whole length the 医疗费总额, the dark part
the 基金支付, the light part the 个人支付) and the total in 元 on the right, with the fund and
personal amounts (and 人次 where counted) in smaller type under the bar. Hovering a bar shows
all of it in a tooltip. Money is shown to the fen (`app.slips.money_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.slips import money_text
from ui.qt import (
    QColor,
    QCoreApplication,
    QEvent,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QRectF,
    QSize,
    QSizePolicy,
    Qt,
    QToolTip,
    QWidget,
)

FUND_COLOUR = "#1f5fa8"  # dark blue: 基金支付
PERSONAL_COLOUR = "#f0a04b"  # orange: 个人支付 (blue / orange: told apart by colour-blind eyes too)
TRACK_COLOUR = "#eceff1"  # the empty rest of the bar's lane
MUTED_COLOUR = "#546e7a"

PADDING = 8
LABEL_GAP = 10
ROW_GAP = 8
BAR_HEIGHT_FACTOR = 1.1  # the bar as tall as a line of text, a little more


def tr(text: str) -> str:
    return QCoreApplication.translate("ClaimsChart", text)


@dataclass(frozen=True)
class Bar:
    """One bar: what it is, 人次 (None when not counted: a category is not a stay), the money."""

    label: str
    count: int | None
    total: Decimal
    fund_total: Decimal

    @property
    def personal_total(self) -> Decimal:
        return self.total - self.fund_total


class BarChart(QWidget):
    """Horizontal bars of total with its fund part; `set_bars` fills it, `bars` is what is shown."""

    def __init__(self, title: str, parent: QWidget | None = None, object_name: str = "barChart",
                 empty_text: str = "") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.title = title
        self.empty_text = empty_text or tr("没有结算")
        self.bars: tuple[Bar, ...] = ()
        self._rows: list[tuple[QRectF, Bar]] = []  # each bar's row, for tooltips
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setMinimumWidth(320)

    # --- data ------------------------------------------------------------------------------

    def set_bars(self, bars: Sequence[Bar]) -> None:
        self.bars = tuple(bars)
        self.setAccessibleDescription(self.describe())
        self.setFixedHeight(self._height())
        self.updateGeometry()
        self.update()

    def describe(self) -> str:
        """The chart in words (screen readers, and tests)."""
        if not self.bars:
            return f"{self.title}：{self.empty_text}"
        return f"{self.title}：" + "；".join(self.bar_text(bar) for bar in self.bars)

    def bar_text(self, bar: Bar) -> str:
        text = tr("{label}：医疗费总额 {total} 元，基金支付 {fund} 元，个人支付 {personal} 元").format(
            label=bar.label, total=money_text(bar.total), fund=money_text(bar.fund_total),
            personal=money_text(bar.personal_total))
        if bar.count is not None:
            text += tr("，{count} 人次").format(count=bar.count)
        return text

    # --- geometry ----------------------------------------------------------------------------

    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        base = QFont(self.font())
        title = QFont(base)
        title.setBold(True)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.85)
        return title, base, small

    def _row_height(self) -> int:
        _, base, small = self._fonts()
        return int(QFontMetrics(base).height() * BAR_HEIGHT_FACTOR) + QFontMetrics(small).height() + 2 + ROW_GAP

    def _header_height(self) -> int:
        title, base, _ = self._fonts()
        return QFontMetrics(title).height() + QFontMetrics(base).height() + 10

    def _height(self) -> int:
        rows = max(len(self.bars), 1)
        return PADDING * 2 + self._header_height() + rows * self._row_height()

    def sizeHint(self) -> QSize:
        return QSize(480, self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(320, self._height())

    # --- drawing ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        title_font, base, small = self._fonts()
        base_metrics, small_metrics = QFontMetrics(base), QFontMetrics(small)
        width = self.width()
        text_colour = self.palette().color(self.foregroundRole())
        y = float(PADDING)

        painter.setFont(title_font)
        painter.setPen(text_colour)
        title_height = QFontMetrics(title_font).height()
        painter.drawText(QRectF(PADDING, y, width - 2 * PADDING, title_height),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.title)
        y += title_height + 2
        # The legend: what the two colours mean.
        painter.setFont(base)
        x = float(PADDING)
        swatch = base_metrics.height() * 0.7
        for colour, text in ((FUND_COLOUR, tr("基金支付")), (PERSONAL_COLOUR, tr("个人支付"))):
            painter.fillRect(QRectF(x, y + (base_metrics.height() - swatch) / 2, swatch, swatch), QColor(colour))
            x += swatch + 4
            painter.setPen(text_colour)
            painter.drawText(QRectF(x, y, base_metrics.horizontalAdvance(text) + 2, base_metrics.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
            x += base_metrics.horizontalAdvance(text) + 16
        y += base_metrics.height() + 8

        self._rows = []
        if not self.bars:
            painter.setPen(QColor(MUTED_COLOUR))
            painter.drawText(QRectF(PADDING, y, width - 2 * PADDING, self._row_height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.empty_text)
            return

        labels = [bar.label for bar in self.bars]
        label_width = min(max(base_metrics.horizontalAdvance(label) for label in labels), int(width * 0.3))
        values = [tr("{amount} 元").format(amount=money_text(bar.total)) for bar in self.bars]
        value_width = max(base_metrics.horizontalAdvance(value) for value in values)
        bar_left = PADDING + label_width + LABEL_GAP
        bar_right = width - PADDING - value_width - LABEL_GAP
        lane = max(bar_right - bar_left, 10)
        largest = max((bar.total for bar in self.bars), default=Decimal(0))
        bar_height = base_metrics.height() * BAR_HEIGHT_FACTOR
        row_height = self._row_height()

        for bar, value in zip(self.bars, values, strict=True):
            row = QRectF(PADDING, y, width - 2 * PADDING, row_height - ROW_GAP)
            self._rows.append((row, bar))
            painter.setFont(base)
            painter.setPen(text_colour)
            label = base_metrics.elidedText(bar.label, Qt.TextElideMode.ElideRight, label_width)
            painter.drawText(QRectF(PADDING, y, label_width, bar_height),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), label)
            painter.fillRect(QRectF(bar_left, y, lane, bar_height), QColor(TRACK_COLOUR))
            if largest > 0 and bar.total > 0:
                total_width = max(float(bar.total / largest) * lane, 2.0)
                fund_width = float(bar.fund_total / bar.total) * total_width if bar.total else 0.0
                fund_width = min(max(fund_width, 0.0), total_width)
                painter.fillRect(QRectF(bar_left, y, fund_width, bar_height), QColor(FUND_COLOUR))
                painter.fillRect(QRectF(bar_left + fund_width, y, total_width - fund_width, bar_height),
                                 QColor(PERSONAL_COLOUR))
            painter.setPen(text_colour)
            painter.drawText(QRectF(bar_right + LABEL_GAP, y, value_width, bar_height),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), value)
            # Under the bar: the fund and personal parts, and 人次.
            detail = tr("基金 {fund}　个人 {personal}").format(
                fund=money_text(bar.fund_total), personal=money_text(bar.personal_total))
            if bar.count is not None:
                detail += tr("　{count} 人次").format(count=bar.count)
            painter.setFont(small)
            painter.setPen(QPen(QColor(MUTED_COLOUR)))
            detail_top = y + bar_height + 1
            painter.drawText(QRectF(bar_left, detail_top, width - PADDING - bar_left, small_metrics.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             small_metrics.elidedText(detail, Qt.TextElideMode.ElideRight,
                                                      int(width - PADDING - bar_left)))
            y += row_height

    # --- tooltips -------------------------------------------------------------------------------

    def bar_at(self, x: float, y: float) -> Bar | None:
        for row, bar in self._rows:
            if row.contains(x, y):
                return bar
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            bar = self.bar_at(event.pos().x(), event.pos().y())
            if bar is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self.bar_text(bar), self)
            return True
        return super().event(event)
