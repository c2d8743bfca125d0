"""Driving Qt's real dialogs from a test: the print dialog (printing to a PDF file, as its
"print to file" choice does) and message boxes, each found as the application's active modal
widget from a timer while the page waits in the dialog's own event loop."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter, ImageStat

from ui.qt import QApplication, QDialog, QLineEdit, QMessageBox, QPrintDialog, QTimer

POLL_MS = 20
_ARMED: list[ModalDriver] = []


@dataclass
class ModalDriver:
    """Waits for the next modal dialog and does `act` to it; remembers what it saw."""

    act: Callable[[QDialog], None]
    timeout_ms: int = 10_000
    seen: list[QDialog] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _waited: int = 0

    def arm(self) -> ModalDriver:
        _ARMED.append(self)  # alive until it has acted (a timer does not keep a bound method alive)
        QTimer.singleShot(POLL_MS, self._poll)
        return self

    def _poll(self) -> None:
        widget = QApplication.activeModalWidget()
        if isinstance(widget, QDialog) and widget.isVisible() and widget not in self.seen:
            self.seen.append(widget)
            self.texts.append(_dialog_text(widget))
            _ARMED.remove(self)
            try:
                self.act(widget)
            except BaseException as error:  # never leave a test waiting in a dialog's loop
                self.errors.append(error)
                widget.reject()
                raise
            return
        self._waited += POLL_MS
        if self._waited < self.timeout_ms:
            QTimer.singleShot(POLL_MS, self._poll)
        else:
            _ARMED.remove(self)


def _dialog_text(dialog: QDialog) -> str:
    if isinstance(dialog, QMessageBox):
        return "\n".join(part for part in (dialog.windowTitle(), dialog.text(), dialog.informativeText()) if part)
    return dialog.windowTitle()


def print_to_file(path: Path) -> ModalDriver:
    """Accepts the next print dialog with its output set to the PDF file `path` (the dialog's
    own file-name field, as a clerk choosing "print to file" types it)."""

    def act(dialog: QDialog) -> None:
        assert isinstance(dialog, QPrintDialog), f"expected the print dialog, got {type(dialog).__name__}"
        name = dialog.findChild(QLineEdit, "filename")
        assert name is not None, "the print dialog has no file-name field"
        name.setText(str(path))
        dialog.printer().setOutputFileName(str(path))
        dialog.accept()

    return ModalDriver(act).arm()


def cancel_dialog() -> ModalDriver:
    return ModalDriver(lambda dialog: dialog.reject()).arm()


def answer(button_text: str | None = None, shot: Path | None = None) -> ModalDriver:
    """Answers the next message box: the button whose text starts with `button_text`, or its
    default button (Enter) when None. `shot` keeps a picture of the box as it was asked."""

    def act(dialog: QDialog) -> None:
        assert isinstance(dialog, QMessageBox), f"expected a message box, got {type(dialog).__name__}"
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(str(shot))
        if button_text is None:
            default = dialog.defaultButton()
            assert default is not None, "the box has no default button"
            default.click()  # what Enter does
            return
        chosen = [b for b in dialog.buttons() if b.text().replace("&", "").startswith(button_text)]
        assert len(chosen) == 1, [b.text() for b in dialog.buttons()]
        chosen[0].click()

    return ModalDriver(act).arm()


def pdf_text(path: Path) -> str:
    """The text of a PDF as poppler's pdftotext reads it, page layout kept."""
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def page_images(path: Path, dpi: int = 50) -> list[Image.Image]:
    """Every page of a PDF as poppler draws it, in grey."""
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "page"
        subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), str(path), str(prefix)], check=True)
        pages = sorted(Path(folder).glob("page-*.pgm"))
        return [Image.open(page).copy() for page in pages]


def _correlation(x: Image.Image, y: Image.Image) -> float:
    """Pearson's correlation of two grey pictures' pixels (1 = the same drawing whatever its contrast)."""
    x, y = x.filter(ImageFilter.GaussianBlur(1)), y.filter(ImageFilter.GaussianBlur(1))  # sub-pixel shifts
    (mean_x,), (mean_y,) = ImageStat.Stat(x).mean, ImageStat.Stat(y).mean
    (sd_x,), (sd_y,) = ImageStat.Stat(x).stddev, ImageStat.Stat(y).stddev
    mean_xy = ImageStat.Stat(ImageChops.multiply(x, y)).mean[0] * 255
    return (mean_xy - mean_x * mean_y) / (sd_x * sd_y)


def picture_likeness(printed: Path, original: Path) -> float:
    """How alike the printed pages look to the document's own pages, each drawn by poppler:
    the lowest correlation over the pages. A printed page is a 300 dpi picture of the document's
    page, so its greys differ: it scores 0.75–0.93 against its own document, about 0.1 against
    another document and about 0.5 when shifted by 3 px.
    Page counts and sizes must agree."""
    ours, theirs = page_images(printed), page_images(original)
    assert len(ours) == len(theirs), f"{len(ours)} pages printed, the document has {len(theirs)}"
    scores = []
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.size == other.size, f"page size {mine.size} printed, {other.size} in the document"
        scores.append(_correlation(mine, other))
    return min(scores)


def is_blank(path: Path) -> bool:
    return all(ImageStat.Stat(page).extrema[0][0] > 200 for page in page_images(path))
