"""Drawing helpers shared by the slip templates: text that fits its cell, CJK wrapping, marks.

Units are PDF points; templates work in millimetres and convert with `mm`.
"""

from __future__ import annotations

from reportlab.lib.colors import Color
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from app.textclean import printable

LEFT, CENTRE, RIGHT = "left", "centre", "right"
MIN_FONT_SIZE = 5.0  # below this a printed slip is no longer readable
PADDING = 4.0  # points between a cell's border and its text
WATERMARK_GREY = Color(0.86, 0.86, 0.86)


def fitting_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size ≤ `size` at which `text` fits `width` (never below MIN_FONT_SIZE)."""
    if not text:
        return size
    natural = stringWidth(text, font, size)
    if natural <= width:
        return size
    return max(MIN_FONT_SIZE, size * width / natural)


def draw_text(canvas: Canvas, x: float, y: float, text: str, font: str, size: float,
              align: str = LEFT, bold: bool = False) -> None:
    """One line of text at baseline `y`; bold is drawn as fill + thin stroke (the font has no bold face).
    Only printable text is drawn: no control or bidirectional character reaches a document."""
    text = printable(text)
    if not text:
        return
    width = stringWidth(text, font, size)
    start = x if align == LEFT else x - width / 2 if align == CENTRE else x - width
    line = canvas.beginText(start, y)
    line.setFont(font, size)
    if bold:
        canvas.saveState()
        canvas.setLineWidth(size / 30)
        line.setTextRenderMode(2)
        line.textOut(text)
        canvas.drawText(line)
        canvas.restoreState()
        return
    line.textOut(text)
    canvas.drawText(line)


def _baseline(bottom: float, top: float, size: float) -> float:
    # Ideographs sit about 0.36 em above the baseline's visual centre in this font.
    return (bottom + top) / 2 - size * 0.36


def draw_in_cell(canvas: Canvas, text: str, x0: float, y0: float, x1: float, y1: float, font: str,
                 size: float, align: str = CENTRE, bold: bool = False) -> None:
    """One line centred vertically in the cell (x0, y0)–(x1, y1), shrunk to fit its width."""
    text = printable(text)
    available = x1 - x0 - 2 * PADDING
    fitted = fitting_size(text, font, size, available)
    if align == LEFT:
        x = x0 + PADDING
    elif align == RIGHT:
        x = x1 - PADDING
    else:
        x = (x0 + x1) / 2
    draw_text(canvas, x, _baseline(y0, y1, fitted), text, font, fitted, align, bold)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines of at most `width`, between any two characters (Chinese has no spaces)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if current and stringWidth(current + char, font, size) > width:
            if char in "，。；：、）”":  # no line starts with closing punctuation
                current += char
                continue
            lines.append(current)
            current = char.lstrip() if char == " " else char
        else:
            current += char
    if current:
        lines.append(current)
    return lines


def draw_fitted_in_cell(canvas: Canvas, text: str, x0: float, y0: float, x1: float, y1: float, font: str,
                        size: float, align: str = CENTRE) -> None:
    """One line if it fits at 80 % of `size` or more; otherwise two smaller lines (long place names)."""
    available = x1 - x0 - 2 * PADDING
    if fitting_size(text, font, size, available) >= size * 0.8 or len(text) < 2:
        draw_in_cell(canvas, text, x0, y0, x1, y1, font, size, align)
        return
    max_two_line_size = (y1 - y0 - 2) / 2 / 1.2  # two lines must fit the row's height
    draw_wrapped_in_cell(canvas, text, x0, y0, x1, y1, font, min(size * 0.9, max_two_line_size))


def draw_wrapped_in_cell(canvas: Canvas, text: str, x0: float, y0: float, x1: float, y1: float,
                         font: str, size: float, max_lines: int = 2) -> None:
    """Centred text on up to `max_lines` lines (column headings like 康复服务项目费用)."""
    text = printable(text)
    available = x1 - x0 - 2 * PADDING
    fitted = size
    lines = wrap(text, font, fitted, available)
    while len(lines) > max_lines and fitted > MIN_FONT_SIZE:
        fitted = max(MIN_FONT_SIZE, fitted - 0.5)
        lines = wrap(text, font, fitted, available)
    leading = fitted * 1.2
    block = leading * len(lines)
    top = (y0 + y1) / 2 + block / 2
    for index, line in enumerate(lines):
        slot_top = top - index * leading
        draw_in_cell(canvas, line, x0, slot_top - leading, x1, slot_top, font, fitted)


def draw_watermark(canvas: Canvas, text: str, centre_x: float, centre_y: float, font: str,
                   size: float, angle: float = 20.0) -> None:
    """Large light-grey text across an area, under everything drawn after it."""
    if not text:
        return
    canvas.saveState()
    canvas.setFillColor(WATERMARK_GREY)
    canvas.translate(centre_x, centre_y)
    canvas.rotate(angle)
    draw_text(canvas, 0, -size * 0.36, text, font, size, CENTRE)
    canvas.restoreState()


def draw_boxed(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    """Bold text in a frame, its left edge at x and its baseline at y (the print's mark)."""
    if not text:
        return
    width = stringWidth(text, font, size)
    canvas.saveState()
    canvas.setLineWidth(0.8)
    canvas.rect(x - 3, y - size * 0.35, width + 6, size * 1.4, stroke=1, fill=0)
    canvas.restoreState()
    draw_text(canvas, x, y, text, font, size, LEFT, bold=True)
