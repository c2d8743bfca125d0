"""The three monthly forms as PDF (`000 附件9 / 9-1 / 9-2`), and the export of all six files of a batch.

Each form on A4 landscape, as the official ones: 附件n at the top left, the title, the header's two
lines (协议机构名称 / 结算机构名称 / 结算批次, then the codes and 生成日期, and 单位：元 on 9-1 and
9-2), the ruled table with the official columns in their order, the 合计 row (its label over the
leading columns, merged as in the official forms), the signature line 受理 · 审核 · 决定 · 机构签章,
and 第 n 页 共 m 页 on every page. The title, header and column headings repeat on every page; the
合计 row and the signature line close the last one. 9-1 and 9-2 have one column the official forms
lack, 备注, at the end: a correction (冲销) row says there which batch's settlement it cancels.

Fast for a month of 2,000 rows: the layout is computed once (row heights, pages), each page's rules
are one path and its one-line cells one text object, so 2,000 stays and 100 device settlements
render as the three forms in about 0.7 s (2,000 rows on each of 9-1 and 9-2: about 1.3 s). Most of
that is reportlab formatting numbers in pure Python.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from app.claims.forms import (
    DATE,
    FOOTER_LABELS,
    FORMS,
    MONEY,
    REMARK_HEADING,
    TEXT,
    TOTAL_LABEL,
    UNIT_LABEL,
    Cell,
    ClaimForms,
    FormHeader,
    FormTable,
    file_stem,
    form_label,
    form_table,
    header_fields,
    money_text,
)
from app.claims.xlsx import workbook_bytes
from app.private_files import private_dirs
from app.textclean import printable
from printing.drawing import (
    CENTRE,
    LEFT,
    MIN_FONT_SIZE,
    PADDING,
    RIGHT,
    draw_in_cell,
    draw_text,
    fitting_size,
    wrap,
)
from printing.fonts import cjk_font

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN = 10 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN  # 277 mm

# Column widths in mm, in the official order (+ 备注 on 9-1 and 9-2); each set fills the content width.
COLUMNS_MM: dict[str, tuple[float, ...]] = {
    # 序号 参保地 就医类别 人次 费用总额 基金支付总额 自付金额 扣款金额 基金结算金额
    "9": (14, 50, 34, 22, 32, 32, 31, 30, 32),
    # 序号 参保地 姓名 身份证号码 就医类别 入院 出院 就医结算日期, five amounts, 备注
    "9-1": (10, 22, 15, 32, 12, 18, 18, 18, 20, 20, 20, 20, 20, 32),
    # 序号 参保地 姓名 身份证号码 辅助器具名称 配置时间 最低使用年限 最高支付限额, five amounts, 备注
    "9-2": (10, 22, 15, 32, 25, 18, 12, 18, 19, 19, 19, 18, 19, 31),
}

# Vertical positions, in mm from the top of the page.
LABEL_Y = 10.0  # 附件n
TITLE_Y = 17.0
HEADER_Y = (24.0, 29.5)
TABLE_TOP = 32.0
HEADING_HEIGHT = 10.0
ROW_HEIGHT = 6.5
TABLE_LIMIT = 189.0  # the table ends above this, leaving room for the signature line and page number
FOOTER_GAP = 8.0  # the signature line's baseline below the table
PAGE_NUMBER_Y = 203.0

SIZE_LABEL = 10.0
SIZE_TITLE = 16.0
SIZE_HEADER = 9.0
SIZE_HEADING = 8.0
SIZE_CELL = 8.0
SIZE_WRAPPED = 7.0  # long place names, device lists and notes, on up to MAX_LINES lines
SIZE_FOOTER = 10.0
SIZE_PAGE_NUMBER = 8.0
MAX_LINES = 4
LEADING = 1.2
LINE = 0.6  # points: the table's rules

# The header's three fields per line start at these offsets (mm) and may use this width before shrinking.
HEADER_FIELDS_MM = ((0.0, 98.0), (100.0, 98.0), (200.0, 77.0))
UNIT_WIDTH_MM = 16.0
FOOTER_X_MM = (0.0, 70.0, 140.0, 205.0)


@dataclass(frozen=True)
class _Row:
    """One printed row: its cells' text, which columns each cell covers, its height in points."""

    texts: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]  # (first column, last column) of each cell
    aligns: tuple[str, ...]
    wrapped: tuple[tuple[tuple[str, ...], float] | None, ...]  # a long text's lines and their size
    height: float
    bold: bool = False


def render_pdf(forms: ClaimForms, form: str) -> bytes:
    """The form `form` ("9", "9-1" or "9-2") of `forms` as PDF bytes.

    2,000 rows make about 100 pages and take about 0.6 s.
    """
    table = form_table(forms, form)
    font = cjk_font()
    edges = _edges(COLUMNS_MM[form])
    rows = _body_rows(table, edges, font)
    pages = _paginate(rows, _totals_row(table))

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), initialFontName=font, initialFontSize=SIZE_CELL)
    canvas.setTitle(f"{form_label(form)} {table.title} {forms.header.batch_no}")
    canvas.setAuthor(forms.header.institution_name)
    canvas.setSubject(f"{forms.header.month} 月度结算申请")
    canvas.setCreator("wi-counter")
    for number, page_rows in enumerate(pages, start=1):
        _draw_page(canvas, table, forms.header, page_rows, edges, font)
        if number == len(pages):
            bottom = _y(TABLE_TOP + HEADING_HEIGHT) - sum(row.height for row in page_rows)
            _draw_footer(canvas, bottom - FOOTER_GAP * mm, font)
        draw_text(canvas, PAGE_WIDTH / 2, _y(PAGE_NUMBER_Y), f"第 {number} 页 共 {len(pages)} 页", font,
                  SIZE_PAGE_NUMBER, CENTRE)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _y(from_top_mm: float) -> float:
    return PAGE_HEIGHT - from_top_mm * mm


def _edges(columns_mm: Sequence[float]) -> list[float]:
    edges = [MARGIN]
    for width in columns_mm:
        edges.append(edges[-1] + width * mm)
    assert abs(edges[-1] - (PAGE_WIDTH - MARGIN)) < 0.01, "columns must fill the content width"
    return edges


def _text(value: Cell, kind: str) -> str:
    if value is None:
        return ""
    if kind == MONEY:
        return money_text(value)  # type: ignore[arg-type]
    if kind == DATE:
        return value.isoformat()  # type: ignore[union-attr]
    return printable(str(value))  # names and codes come from the HIS and the centre


# A run of Latin letters, digits and the punctuation of dates and batch numbers stays on one line
# when it can (冲销：批次 H4408… 中 2024-04-18 …); any other character may start a line.
_TOKENS = re.compile(r"[0-9A-Za-z.\-/:]+|\s+|.")
_NO_LINE_START = "，。；：、）”"


def _wrap_words(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for token in _TOKENS.findall(text):
        if not current or stringWidth(current + token, font, size) <= width or token in _NO_LINE_START:
            current += token
            continue
        lines.append(current.rstrip())
        current = "" if token.isspace() else token
        if stringWidth(current, font, size) > width:  # a run longer than the cell: break it anywhere
            *full, current = wrap(current, font, size, width)
            lines += full
    if current.strip():
        lines.append(current.rstrip())
    return lines


def _wrapped(text: str, width: float, font: str) -> tuple[tuple[str, ...], float] | None:
    """None when the text fits one line at 80 % of the cell size or more; else its lines (at most
    MAX_LINES, smaller text when needed) and their size."""
    available = width - 2 * PADDING
    if fitting_size(text, font, SIZE_CELL, available) >= SIZE_CELL * 0.8:
        return None
    size = SIZE_WRAPPED
    lines = _wrap_words(text, font, size, available)
    while len(lines) > MAX_LINES and size > MIN_FONT_SIZE:
        size = max(MIN_FONT_SIZE, size - 0.5)
        lines = _wrap_words(text, font, size, available)
    return tuple(lines), size


def _body_rows(table: FormTable, edges: list[float], font: str) -> list[_Row]:
    width = len(table.columns)
    if not table.rows:
        return [_Row((table.empty_text,), ((0, width - 1),), (CENTRE,), (None,), ROW_HEIGHT * mm)]
    kinds = [column.kind for column in table.columns]
    aligns = tuple(RIGHT if kind == MONEY else LEFT if column.heading == REMARK_HEADING else CENTRE
                   for kind, column in zip(kinds, table.columns, strict=True))
    spans = tuple((index, index) for index in range(width))
    text_columns = [index for index, kind in enumerate(kinds) if kind == TEXT]
    no_wrapping: tuple[None, ...] = (None,) * width
    rows = []
    for values in table.rows:
        texts = tuple(_text(value, kind) for value, kind in zip(values, kinds, strict=True))
        wrapped: tuple[tuple[tuple[str, ...], float] | None, ...] = no_wrapping
        height = ROW_HEIGHT * mm
        long_texts = {index: lines for index in text_columns if texts[index]
                      and (lines := _wrapped(texts[index], edges[index + 1] - edges[index], font))}
        if long_texts:
            wrapped = tuple(long_texts.get(index) for index in range(width))
            block = max(len(lines) * size * LEADING for lines, size in long_texts.values())
            height = max(height, block + 2 * PADDING)
        rows.append(_Row(texts, spans, aligns, wrapped, height))
    return rows


def _totals_row(table: FormTable) -> _Row:
    kinds = [column.kind for column in table.columns][table.total_span:]
    texts = (TOTAL_LABEL, *(_text(value, kind) for value, kind in zip(table.totals, kinds, strict=True)))
    spans = ((0, table.total_span - 1), *((index, index) for index in range(table.total_span, len(table.columns))))
    aligns = (CENTRE, *(RIGHT if kind == MONEY else CENTRE for kind in kinds))
    return _Row(texts, spans, aligns, (None,) * len(texts), ROW_HEIGHT * mm, bold=True)


def _paginate(rows: list[_Row], totals: _Row) -> list[list[_Row]]:
    """Rows into pages under the repeated headings; the 合计 row never stands alone on a page."""
    available = (TABLE_LIMIT - TABLE_TOP - HEADING_HEIGHT) * mm
    pages: list[list[_Row]] = []
    current: list[_Row] = []
    used = 0.0
    for row in rows:
        if current and used + row.height > available:
            pages.append(current)
            current, used = [], 0.0
        current.append(row)
        used += row.height
    if used + totals.height > available:
        carried = [current.pop()] if len(current) > 1 else []
        pages.append(current)
        current = carried
    current.append(totals)
    pages.append(current)
    return pages


def _draw_page(canvas: Canvas, table: FormTable, header: FormHeader, rows: list[_Row], edges: list[float],
               font: str) -> None:
    draw_text(canvas, MARGIN, _y(LABEL_Y), form_label(table.form), font, SIZE_LABEL)
    draw_text(canvas, PAGE_WIDTH / 2, _y(TITLE_Y), table.title, font, SIZE_TITLE, CENTRE, bold=True)
    for line, (fields, baseline) in enumerate(zip(header_fields(header), HEADER_Y, strict=True)):
        for (label, value), (left_mm, width_mm) in zip(fields, HEADER_FIELDS_MM, strict=True):
            if table.unit and line == 1 and left_mm == HEADER_FIELDS_MM[-1][0]:
                width_mm -= UNIT_WIDTH_MM + 2
            text = f"{label}：{_text(value, DATE) if label == '生成日期' else value}"
            draw_text(canvas, MARGIN + left_mm * mm, _y(baseline), text, font,
                      fitting_size(text, font, SIZE_HEADER, width_mm * mm))
        if table.unit and line == 1:
            draw_text(canvas, PAGE_WIDTH - MARGIN, _y(baseline), UNIT_LABEL, font, SIZE_HEADER, RIGHT)

    top = _y(TABLE_TOP)
    heading_bottom = _y(TABLE_TOP + HEADING_HEIGHT)
    for index, column in enumerate(table.columns):
        _draw_heading(canvas, column.heading, edges[index], heading_bottom, edges[index + 1], top, font)
    cells = _PageText(canvas, font)
    row_top = heading_bottom
    for row in rows:
        row_bottom = row_top - row.height
        for text, (first, last), align, wrapped in zip(row.texts, row.spans, row.aligns, row.wrapped, strict=True):
            if not text:
                continue
            x0, x1 = edges[first], edges[last + 1]
            if wrapped:
                lines, size = wrapped
                middle, leading = (row_top + row_bottom) / 2, size * LEADING
                first_top = middle + leading * len(lines) / 2
                for number, part in enumerate(lines):
                    slot_top = first_top - number * leading
                    cells.add(part, x0, slot_top - leading, x1, slot_top, align, size)
            elif row.bold and first == 0:  # the 合计 label
                draw_in_cell(canvas, text, x0, row_bottom, x1, row_top, font, SIZE_CELL, align, bold=True)
            else:
                cells.add(text, x0, row_bottom, x1, row_top, align)
        row_top = row_bottom
    cells.draw()
    _draw_rules(canvas, edges, top, heading_bottom, rows)


class _PageText:
    """A page's one-line cells as one PDF text object, each cell's text measured once.

    The same result as `printing.drawing.draw_in_cell` per cell (centred vertically, shrunk to fit
    the width), but a text object and font selection per cell made 2,000 rows take twice as long:
    reportlab formats every number it writes, and that dominated the time.
    """

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.canvas = canvas
        self.font = font
        self.text = canvas.beginText()
        self.size = 0.0

    def add(self, text: str, x0: float, y0: float, x1: float, y1: float, align: str,
            size: float = SIZE_CELL) -> None:
        available = x1 - x0 - 2 * PADDING
        width = stringWidth(text, self.font, size)
        if width > available:
            size = max(MIN_FONT_SIZE, size * available / width)
            width = stringWidth(text, self.font, size)
        if size != self.size:
            self.text.setFont(self.font, size)
            self.size = size
        if align == LEFT:
            x = x0 + PADDING
        elif align == RIGHT:
            x = x1 - PADDING - width
        else:
            x = (x0 + x1 - width) / 2
        # Ideographs sit about 0.36 em above the baseline's visual centre (as in printing.drawing).
        self.text.setTextOrigin(x, (y0 + y1) / 2 - size * 0.36)
        self.text.textOut(text)

    def draw(self) -> None:
        self.canvas.drawText(self.text)


def _draw_heading(canvas: Canvas, heading: str, x0: float, y0: float, x1: float, y1: float, font: str) -> None:
    """A column heading on one line (a little smaller if need be), or on two halves of equal length
    (基金支付 / 总额, as the official forms break them), never a lone last character."""
    available = x1 - x0 - 2 * PADDING
    if fitting_size(heading, font, SIZE_HEADING, available) >= SIZE_HEADING * 0.9:
        draw_in_cell(canvas, heading, x0, y0, x1, y1, font, SIZE_HEADING)
        return
    half = (len(heading) + 1) // 2
    middle, leading = (y0 + y1) / 2, SIZE_HEADING * LEADING
    for number, line in enumerate((heading[:half], heading[half:])):
        slot_top = middle + leading - number * leading
        draw_in_cell(canvas, line, x0, slot_top - leading, x1, slot_top, font, SIZE_HEADING)


def _draw_rules(canvas: Canvas, edges: list[float], top: float, heading_bottom: float, rows: list[_Row]) -> None:
    """The page's table rules as one path: a line under every row, and the columns' lines down each run
    of rows with the same cells (the headings and data rows; the merged 合计 and empty rows)."""
    left, right = edges[0], edges[-1]
    segments = [(left, top, right, top), (left, heading_bottom, right, heading_bottom)]
    run_top, run_spans = top, tuple((index, index) for index in range(len(edges) - 1))
    y = heading_bottom
    for row in rows:
        if row.spans != run_spans:
            segments += _verticals(edges, run_spans, run_top, y)
            run_top, run_spans = y, row.spans
        y -= row.height
        segments.append((left, y, right, y))
    segments += _verticals(edges, run_spans, run_top, y)
    canvas.saveState()
    canvas.setLineWidth(LINE)
    canvas.lines(segments)
    canvas.restoreState()


def _verticals(edges: list[float], spans: tuple[tuple[int, int], ...], top: float,
               bottom: float) -> list[tuple[float, float, float, float]]:
    xs = [edges[first] for first, _ in spans] + [edges[spans[-1][1] + 1]]
    return [(x, top, x, bottom) for x in xs]


def _draw_footer(canvas: Canvas, baseline: float, font: str) -> None:
    for label, left_mm in zip(FOOTER_LABELS, FOOTER_X_MM, strict=True):
        draw_text(canvas, MARGIN + left_mm * mm, baseline, f"{label}：", font, SIZE_FOOTER)


# --- the export: all six files of a batch, or none -----------------------------------------------


def export(forms: ClaimForms, out_dir: Path) -> list[Path]:
    """Write the three forms as PDF and XLSX into `out_dir` (created if missing); the paths written.

    Named `{batch}-附件9-工伤保险费用结算表.pdf` and so on (`app.claims.forms.file_stem`). Every file is
    rendered before any is written, so a failing form leaves nothing of this export behind; each is
    written to a hidden temporary file in `out_dir` and renamed over its name, so no reader ever sees
    a half-written file. Files of an earlier export of the same batch are replaced.
    """
    documents: list[tuple[Path, bytes]] = []
    for form in FORMS:
        stem = file_stem(forms.header.batch_no, form)
        documents.append((out_dir / f"{stem}.pdf", render_pdf(forms, form)))
        documents.append((out_dir / f"{stem}.xlsx", workbook_bytes(forms, form)))

    private_dirs(out_dir, existing="keep")  # created 0700; a folder the clerk chose stays as it is
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in documents:
            handle, name = tempfile.mkstemp(dir=out_dir, prefix=".wi-counter-", suffix=".part")
            written.append((Path(name), path))
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())  # on disk before the rename makes it visible under its name
        for temporary, path in written:
            os.replace(temporary, path)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)  # only what is left after an error
    return [path for path, _ in documents]
