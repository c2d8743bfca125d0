"""The slip preview fits the page to its width without looping (ui/pdf_view.py).

Qt's FitToWidth froze the window at 100 % CPU: the vertical scroll bar appearing narrowed the
viewport, the page shrank and no longer needed the bar, the bar went, the page grew… The test that
found it was the discharge page's (a reviewer settled again while the cashier's window previewed the
slip). A frozen event loop cannot fail an assertion, so the sweep runs in a child process with a
watchdog: stuck for 5 s at one size, it names the size and the test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.pdfgen import canvas

from ui.pdf_view import FitWidthPdfView
from ui.qt import QPdfDocument, QWidget

ROOT = Path(__file__).resolve().parents[2]

SWEEP = r"""
import os, sys, threading, time
from ui.qt import QApplication, QPdfDocument, QWidget
from ui.pdf_view import FitWidthPdfView

app = QApplication([])
document = QPdfDocument()
document.load(sys.argv[1])
holder = QWidget()
view = FitWidthPdfView(holder)
view.setDocument(document)
holder.show()
beat = [time.monotonic(), None]

def watchdog() -> None:
    while True:
        time.sleep(0.25)
        if time.monotonic() - beat[0] > 5:
            print("STUCK", beat[1], flush=True)
            os._exit(3)

threading.Thread(target=watchdog, daemon=True).start()
for height in range(260, 780, 41):
    for width in range(300, 1300, 23):
        beat[1] = (width, height)
        beat[0] = time.monotonic()
        view.resize(width, height)
        app.processEvents()
        margins = view.documentMargins()
        room = view.viewport().width() - margins.left() - margins.right()
        drawn = view.zoomFactor() * document.pagePointSize(0).width() * view.logicalDpiX() / 72
        if abs(drawn - room) > 1.5:
            print("NOT FITTED", width, height, drawn, room, flush=True)
            os._exit(4)
print("SWEPT", flush=True)
"""


def _slip_like_pdf(path: Path, pages: list[tuple[float, float]]) -> Path:
    drawing = canvas.Canvas(str(path))
    for size in pages:
        drawing.setPageSize(size)
        drawing.drawString(40, size[1] - 60, "Guangdong work-injury settlement slip")
        drawing.rect(30, 30, size[0] - 60, size[1] - 120)
        drawing.showPage()
    drawing.save()
    return path


@pytest.mark.parametrize("pages", [[A4], [A4, landscape(A5), A4]], ids=["one A4 page", "mixed page sizes"])
def test_the_preview_never_loops_at_any_size_and_always_fits_the_width(tmp_path: Path, pages: list) -> None:
    pdf = _slip_like_pdf(tmp_path / "slip.pdf", pages)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    swept = subprocess.run([sys.executable, "-c", SWEEP, str(pdf)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert swept.returncode == 0 and "SWEPT" in swept.stdout, swept.stdout + swept.stderr[-2000:]


def test_loading_a_slip_does_not_change_the_width_the_zoom_is_computed_from(qtbot, tmp_path: Path) -> None:
    """The loop's cause: the bar's appearing must not narrow the viewport once the page is in."""
    # As on the 结算单 page: one owner, the view made before the document, so the view goes first
    # (a document that is the view's own child crashes Qt's view as it is destroyed).
    page = QWidget()
    qtbot.addWidget(page)
    view = FitWidthPdfView(page)
    document = QPdfDocument(page)
    page.resize(640, 420)
    view.resize(640, 420)
    page.show()
    qtbot.waitExposed(page)
    before = view.viewport().width()
    view.setDocument(document)
    document.load(str(_slip_like_pdf(tmp_path / "tall.pdf", [A4, A4])))
    qtbot.waitUntil(lambda: document.pageCount() == 2)
    qtbot.wait(50)
    assert view.viewport().width() == before
    zoom = view.fitted_zoom()
    assert zoom is not None and view.zoomFactor() == pytest.approx(zoom, abs=1e-3)
