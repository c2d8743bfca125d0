"""Reads a slip PDF back as a clerk would look at it: which text sits in which ruled cell.

The cells are found from the rules actually drawn in the PDF (pdfplumber's table finder),
and a character belongs to a cell when its centre lies inside it. Nothing here knows the
template's coordinates, so a label drawn in the wrong cell fails the tests.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pdfplumber

Box = tuple[float, float, float, float]  # x0, top, x1, bottom (pdfplumber's orientation: top grows down)
_EPS = 1.0


def _axis_aligned(char: dict) -> bool:  # type: ignore[type-arg]
    matrix = char["matrix"]
    return abs(matrix[1]) < 1e-6 and abs(matrix[2]) < 1e-6


@dataclass
class Copy:
    """One copy of the slip (an A5-landscape area): its text and its ruled cells."""

    page_number: int
    region: Box
    chars: list[dict]  # type: ignore[type-arg]
    watermark: str
    cells: list[Box]

    def text_in(self, box: Box) -> str:
        x0, top, x1, bottom = box
        inside = [c for c in self.chars
                  if x0 < (c["x0"] + c["x1"]) / 2 < x1 and top < (c["top"] + c["bottom"]) / 2 < bottom]
        inside.sort(key=lambda c: (round(c["top"]), c["x0"]))
        return "".join(c["text"] for c in inside).strip()

    def cell_texts(self) -> dict[Box, str]:
        return {cell: self.text_in(cell) for cell in self.cells}

    def cell_with(self, text: str) -> Box:
        found = [cell for cell in self.cells if self.text_in(cell) == text]
        assert len(found) == 1, f"expected one cell reading {text!r}, found {len(found)}: {self.cell_texts()}"
        return found[0]

    def right_of(self, cell: Box) -> Box:
        found = [c for c in self.cells
                 if abs(c[0] - cell[2]) < _EPS and abs(c[1] - cell[1]) < _EPS and abs(c[3] - cell[3]) < _EPS]
        assert len(found) == 1, f"no single cell right of {cell}"
        return found[0]

    def at(self, column: Box, row: Box) -> Box:
        """The cell under a column heading and beside a row label."""
        found = [c for c in self.cells
                 if abs(c[0] - column[0]) < _EPS and abs(c[2] - column[2]) < _EPS
                 and abs(c[1] - row[1]) < _EPS and abs(c[3] - row[3]) < _EPS]
        assert len(found) == 1, f"no single cell at column {column} / row {row}"
        return found[0]

    def lines(self) -> list[str]:
        """The copy's text line by line (for text outside the ruled cells)."""
        rows: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for char in self.chars:
            rows.setdefault(round(char["top"]), []).append(char)
        return ["".join(c["text"] for c in sorted(row, key=lambda c: c["x0"])) for _, row in sorted(rows.items())]

    def line_top(self, fragment: str) -> float:
        for char_top, row in sorted(self._rows().items()):
            if fragment in "".join(c["text"] for c in sorted(row, key=lambda c: c["x0"])):
                return float(char_top)
        raise AssertionError(f"{fragment!r} not on any line: {self.lines()}")

    def _rows(self) -> dict[int, list[dict]]:  # type: ignore[type-arg]
        rows: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for char in self.chars:
            rows.setdefault(round(char["top"]), []).append(char)
        return rows

    @property
    def grid_top(self) -> float:
        return min(cell[1] for cell in self.cells)

    @property
    def grid_bottom(self) -> float:
        return max(cell[3] for cell in self.cells)


@dataclass
class SlipPdf:
    pages: int
    page_sizes: list[tuple[float, float]]
    copies: list[Copy]


def read_slip(pdf: bytes) -> SlipPdf:
    copies: list[Copy] = []
    sizes: list[tuple[float, float]] = []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for number, page in enumerate(document.pages):
            sizes.append((float(page.width), float(page.height)))
            # One copy per A5-landscape area: two on an A4 sheet, one on an A5 sheet.
            halves = 2 if page.height > page.width else 1
            height = float(page.height) / halves
            for half in range(halves):
                region: Box = (0.0, half * height, float(page.width), (half + 1) * height)
                area = page.within_bbox(region)
                chars = [c for c in area.chars if _axis_aligned(c)]
                watermark = "".join(c["text"] for c in area.chars if not _axis_aligned(c))
                cells = [tuple(cell) for table in area.find_tables() for cell in table.cells]
                copies.append(Copy(number, region, chars, watermark, cells))  # type: ignore[arg-type]
    return SlipPdf(len(sizes), sizes, copies)


@dataclass(frozen=True)
class FontRow:
    name: str
    type: str
    embedded: bool
    subset: bool
    unicode: bool


def pdf_fonts(path: Path) -> list[FontRow]:
    """The fonts of a PDF as poppler's pdffonts lists them."""
    output = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in output.splitlines()[2:]:
        # name type encoding emb sub uni object ID — the type may hold a space ("Type 1")
        parts = line.split()
        emb, sub, uni = parts[-5:-2]
        rows.append(FontRow(parts[0], " ".join(parts[1:-6]), emb == "yes", sub == "yes", uni == "yes"))
    return rows


def to_png(pdf_path: Path, out_prefix: Path, dpi: int = 110) -> list[Path]:
    """Render every page to PNG with poppler's pdftoppm (test artefacts to look at)."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf_path), str(out_prefix)], check=True)
    return sorted(out_prefix.parent.glob(f"{out_prefix.name}-*.png"))
