"""A PDF preview that fits the page to its width without ever looping.

Qt's own `QPdfView.ZoomMode.FitToWidth` measures the viewport, and the viewport narrows when the
vertical scroll bar appears. At some sizes the fitted page is just tall enough to need the bar, the
bar narrows the viewport, the page shrinks and no longer needs it, the bar goes, the page grows…:
the window froze at 100 % CPU with a slip in the preview (the 结算单 page at the size a test window
had when a reviewer settled again). The same loop is known from other viewers (TeXworks #134 #461).

Here the vertical bar is always shown and the horizontal one never, and the zoom is computed from
the width the viewport has with the bar in it, so nothing the zoom changes can change the width.
"""

from __future__ import annotations

from ui.qt import QPdfDocument, QPdfView, QResizeEvent, Qt, QWidget

POINTS_PER_INCH = 72.0
SMALLEST_ZOOM = 0.05


class FitWidthPdfView(QPdfView):
    def __init__(self, parent: QWidget) -> None:  # QPdfView needs its parent (its stubs say so)
        super().__init__(parent)
        self.setPageMode(QPdfView.PageMode.MultiPage)
        self.setZoomMode(QPdfView.ZoomMode.Custom)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def setDocument(self, document: QPdfDocument) -> None:  # noqa: N802 (Qt's name)
        super().setDocument(document)
        # Only the signals' own values are read here: a document being destroyed still says
        # Unloading / 0 pages, and must not be asked for anything else then.
        document.statusChanged.connect(self._status_changed)
        document.pageCountChanged.connect(self._page_count_changed)
        self.fit_to_width()

    def _status_changed(self, status: QPdfDocument.Status) -> None:
        if status == QPdfDocument.Status.Ready:
            self.fit_to_width()

    def _page_count_changed(self, count: int) -> None:
        if count > 0:
            self.fit_to_width()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_to_width()

    def fitted_zoom(self) -> float | None:
        """The zoom at which the widest page fills the viewport's width, or None with no pages."""
        document = self.document()
        if document is None or document.pageCount() <= 0:
            return None
        widest = max(document.pagePointSize(page).width() for page in range(document.pageCount()))
        if widest <= 0:
            return None
        margins = self.documentMargins()
        available = self.viewport().width() - margins.left() - margins.right()
        # QPdfView draws a point at logicalDpiX / 72 pixels times the zoom factor.
        page_width_at_one = widest * self.logicalDpiX() / POINTS_PER_INCH
        return max(SMALLEST_ZOOM, available / page_width_at_one)

    def fit_to_width(self) -> None:
        zoom = self.fitted_zoom()
        if zoom is not None and abs(zoom - self.zoomFactor()) > 1e-4:
            self.setZoomFactor(zoom)
