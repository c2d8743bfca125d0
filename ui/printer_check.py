"""For `wi-counter doctor`: the machine's printers as Qt's print system sees them (the window
prints through the same), without opening a window."""

from __future__ import annotations

from PySide6.QtPrintSupport import QPrinterInfo


def printers() -> tuple[str | None, list[str]]:
    """(the default printer's name or None, every printer's name)."""
    default = QPrinterInfo.defaultPrinterName() or None
    return default, [info.printerName() for info in QPrinterInfo.availablePrinters()]
