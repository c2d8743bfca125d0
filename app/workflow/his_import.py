"""The stay's charge lines from the hospital's HIS export (CSV in UTF-8 or GBK, or XLSX).

A column mapping per hospital (TOML, `docs/his-import.md`) names the headers, date formats
and category words. The file is read whole and checked whole: every bad row is reported
with its own row number, and nothing is imported until the file is clean. Re-importing
the same file adds nothing twice: each line has a fingerprint (the HIS line id, or the
row's content and how many times that content occurred before it in the file), unique
per stay in the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import bindparam, column, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.db.models import ChargeCategory, ChargeLine, ChargeSource, HisImport, Stay, StayStatus, utc_now
from app.errors import ConfigurationError
from app.operators import OperatorInfo, Permission, require
from app.resources import resource_path
from app.textclean import has_unsafe, unsafe_in
from app.workflow.common import StayNotFound, WorkflowError
from app.workflow.stay_guard import refuse_while_settling

FEN = Decimal("0.01")
MAPPINGS_FOLDER = "his_mappings"

# Field → Chinese label (used in messages and docs).
FIELD_LABELS: dict[str, str] = {
    "line_id": "明细流水号",
    "his_code": "项目编码",
    "name": "项目名称",
    "category": "费用类别",
    "quantity": "数量",
    "unit_price": "单价",
    "amount": "金额",
    "charged_on": "费用日期",
    "dept": "开单科室",
    "order_group": "医嘱组号",
    "diagnosis_code": "诊断编码",
    "refund_of": "原明细流水号",
}
REQUIRED_FIELDS = ("his_code", "name", "quantity", "unit_price", "charged_on")
# Longest text each field may hold (the database columns' lengths).
MAX_LENGTHS = {"line_id": 200, "his_code": 64, "name": 128, "dept": 64, "order_group": 64, "diagnosis_code": 16,
               "refund_of": 200}
_SHORTEST_LIMIT = min(MAX_LENGTHS.values())
_LARGEST = Decimal("1e9")  # quantities, prices and amounts beyond this are typing errors (and overflow storage)
# Stays whose lines may still change (not settled, not cancelled, not paid in full awaiting 补登记).
OPEN_STATUSES = (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)
HEADER_SEARCH_ROWS = 20  # a title or notes above the header row are allowed
# Bounds on what one file may cost (issue 22): a real stay's export is far inside each (20,000 lines ≈ 3 MB).
MiB = 1024 * 1024
MAX_FILE_BYTES = 64 * MiB
MAX_XLSX_UNPACKED_BYTES = 256 * MiB  # the sum of the zip's declared sizes, checked before openpyxl reads it
MAX_ROWS = 100_000  # rows of the file, the header and notes included
MAX_COLUMNS = 200
MAX_NUMBER_CHARS = 32  # "-123456789.1234" is 15


# --- the column mapping ----------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """How one hospital's HIS export is laid out (`resources/his_mappings/NAME.toml`)."""

    name: str
    title: str
    columns: Mapping[str, tuple[str, ...]]  # field → header aliases
    date_formats: tuple[str, ...]
    categories: Mapping[str, ChargeCategory]  # HIS category word → catalogue category
    delimiter: str = "auto"
    skip_rows_starting_with: tuple[str, ...] = ()
    source: str = ""  # the file it was read from

    def category_words(self) -> str:
        return "、".join(self.categories)


def _mapping_folders(config_dir: Path | None) -> list[Path]:
    folders = [resource_path(MAPPINGS_FOLDER)]
    if config_dir is not None:
        folders.append(config_dir / MAPPINGS_FOLDER)
    return folders


def mapping_names(config_dir: Path | None = None) -> list[str]:
    """The mappings available: shipped ones and the hospital's own (config folder)."""
    names: set[str] = set()
    for folder in _mapping_folders(config_dir):
        if folder.is_dir():
            names.update(path.stem for path in folder.glob("*.toml"))
    return sorted(names, key=lambda n: (n != "default", n))


def _find_mapping_file(name: str, config_dir: Path | None) -> Path | None:
    for folder in reversed(_mapping_folders(config_dir)):  # the hospital's own first
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    return None


def load_mapping(name: str = "default", config_dir: Path | None = None) -> ColumnMapping:
    """Read mapping NAME: the config folder's `his_mappings/NAME.toml` first, then the shipped one."""
    if not re.fullmatch(r"[A-Za-z0-9_\-\u4e00-\u9fff]+", name):
        raise ConfigurationError(f"列映射名称“{name}”无效（只用字母、数字、汉字、- 和 _）。")
    return _load_mapping(name, config_dir, seen=())


def _load_mapping(name: str, config_dir: Path | None, seen: tuple[str, ...]) -> ColumnMapping:
    path = _find_mapping_file(name, config_dir)
    if path is None:
        known = "、".join(mapping_names(config_dir)) or "（无）"
        raise ConfigurationError(f"没有名为“{name}”的 HIS 列映射（可用：{known}）。")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"HIS 列映射 {path} 无法读取：{exc}") from exc
    where = f"HIS 列映射 {path}"
    base: ColumnMapping | None = None
    extends = document.get("extends")
    if extends is not None:
        if not isinstance(extends, str) or not extends:
            raise ConfigurationError(f"{where}：extends 应为另一列映射的名称。")
        if extends == name:
            # A hospital file may change the shipped mapping of the same name.
            shipped = _find_shipped(name)
            if shipped is None or shipped == path:
                raise ConfigurationError(f"{where}：extends 不能指向自己。")
            base = _load_shipped(name)
        elif extends in seen:
            raise ConfigurationError(f"{where}：extends 形成循环（{' → '.join((*seen, name, extends))}）。")
        else:
            base = _load_mapping(extends, config_dir, (*seen, name))
    return _mapping_from_document(name, document, base, where, str(path))


def _find_shipped(name: str) -> Path | None:
    candidate = resource_path(MAPPINGS_FOLDER) / f"{name}.toml"  # the name is the site's setting
    return candidate if candidate.is_file() else None


def _load_shipped(name: str) -> ColumnMapping:
    path = _find_shipped(name)
    assert path is not None
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    return _mapping_from_document(name, document, None, f"HIS 列映射 {path}", str(path))


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigurationError(f"{where}：应为非空字符串的列表。")
    return tuple(v.strip() for v in value)


def _mapping_from_document(name: str, document: dict[str, Any], base: ColumnMapping | None, where: str,
                           source: str) -> ColumnMapping:
    known_keys = {"title", "extends", "columns", "date_formats", "delimiter", "skip_rows_starting_with", "categories"}
    unknown = sorted(set(document) - known_keys)
    if unknown:
        raise ConfigurationError(f"{where}：未知的设置项 {', '.join(unknown)}。")
    columns: dict[str, tuple[str, ...]] = dict(base.columns) if base else {}
    raw_columns = document.get("columns", {})
    if not isinstance(raw_columns, dict):
        raise ConfigurationError(f"{where}：[columns] 应为表。")
    for key, aliases in raw_columns.items():
        if key not in FIELD_LABELS:
            raise ConfigurationError(f"{where}：[columns] 中的 {key} 不是已知字段（{', '.join(FIELD_LABELS)}）。")
        columns[key] = _string_list(aliases, f"{where} columns.{key}")
    missing = [f"{f}（{FIELD_LABELS[f]}）" for f in REQUIRED_FIELDS if f not in columns]
    if missing:
        raise ConfigurationError(f"{where}：[columns] 缺少必需字段 {'、'.join(missing)}。")
    categories: dict[str, ChargeCategory] = dict(base.categories) if base else {}
    raw_categories = document.get("categories", {})
    if not isinstance(raw_categories, dict):
        raise ConfigurationError(f"{where}：[categories] 应为表。")
    for word, value in raw_categories.items():
        try:
            categories[word.strip()] = ChargeCategory(value)
        except ValueError:
            choices = ", ".join(c.value for c in ChargeCategory)
            raise ConfigurationError(f"{where}：categories.{word} = {value!r} 不是已知类别（{choices}）。") from None
    if "date_formats" in document:
        date_formats = _string_list(document["date_formats"], f"{where} date_formats")
    elif base is not None:
        date_formats = base.date_formats
    else:
        raise ConfigurationError(f"{where}：缺少 date_formats。")
    delimiter = document.get("delimiter", base.delimiter if base else "auto")
    if not isinstance(delimiter, str) or (delimiter != "auto" and len(delimiter) != 1):
        raise ConfigurationError(f"{where}：delimiter 应为 \"auto\" 或单个字符。")
    if "skip_rows_starting_with" in document:
        skip = _string_list(document["skip_rows_starting_with"], f"{where} skip_rows_starting_with")
    else:
        skip = base.skip_rows_starting_with if base else ()
    title = document.get("title", base.title if base else name)
    if not isinstance(title, str):
        raise ConfigurationError(f"{where}：title 应为字符串。")
    return ColumnMapping(name=name, title=title, columns=columns, date_formats=date_formats, categories=categories,
                         delimiter=delimiter, skip_rows_starting_with=skip, source=source)


# --- problems ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with the file; `row` is the file's own row number (header = 1), 0 = the whole file."""

    row: int
    column: str | None
    message: str

    def describe(self) -> str:
        where = "文件" if self.row == 0 else f"第 {self.row} 行"
        column = f"“{self.column}”列" if self.column else ""
        return f"{where}{column}：{self.message}"


def _short(text: str, limit: int = 24) -> str:
    """A cell's text as quoted in a message: a hostile cell is not echoed whole."""
    return text if len(text) <= limit else f"{text[:limit]}…（共 {len(text)} 个字符）"


class HisFileInvalid(WorkflowError):
    """The HIS file cannot be imported; `problems` lists every one (nothing was imported)."""

    SHOWN = 5

    def __init__(self, file_name: str, problems: Sequence[RowProblem]) -> None:
        self.file_name = file_name
        self.problems = list(problems)
        shown = "\n".join(p.describe() for p in self.problems[: self.SHOWN])
        more = f"\n……共 {len(self.problems)} 处问题" if len(self.problems) > self.SHOWN else f"\n共 {len(self.problems)} 处问题"
        super().__init__(f"HIS 文件 {file_name} 有问题，未导入任何明细：\n{shown}{more}。改正后请重新导入。")


# --- the parsed file -----------------------------------------------------------------------


class HisRow(NamedTuple):
    """One checked line of the file. Immutable; a NamedTuple rather than a frozen dataclass because
    a 20,000-line file builds 20,000 of them and a frozen dataclass's __init__ is five times slower."""

    row: int
    his_line_id: str | None
    his_code: str
    name: str
    category: ChargeCategory | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    charged_on: dt.date
    dept: str | None
    order_group: str | None
    diagnosis_code: str | None
    refund_of_line_id: str | None
    # Unique per stay: the HIS line id, or the content and its occurrence count in the file.
    fingerprint: str = ""


@dataclass(frozen=True)
class ParsedHisFile:
    file_name: str
    sha256: str
    file_format: str  # csv / xlsx
    encoding: str | None  # utf-8 / gbk / gb18030 (CSV only)
    rows: tuple[HisRow, ...]


def line_id_fingerprint(line_id: str) -> str:
    """The fingerprint of a line the HIS identifies (readable when short)."""
    if len(line_id) <= 61:
        return f"id:{line_id}"
    return "id#" + hashlib.sha256(line_id.encode()).hexdigest()[:61]


# --- reading the file ------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNIT_SUFFIX = re.compile(r"[（(][^）)]*[）)]$")


def _normalise_header(text: str) -> str:
    text = re.sub(r"\s+", "", text.replace("\ufeff", ""))
    return _UNIT_SUFFIX.sub("", text).casefold()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # XLSX numbers arrive as binary floats. Six places keep every real figure (amounts have two,
        # prices and quantities four) and drop a formula's float noise (3 × 4.8 = 14.399999999999999).
        value = round(value, 6)
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()  # a date cell: only the day counts
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _decode(data: bytes, file_name: str) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            raise HisFileInvalid(file_name, [RowProblem(0, None, f"文件标明为 UTF-8 编码，但第 {exc.start} 字节无法解码。")]) from exc
    for encoding in ("utf-8", "gbk", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise HisFileInvalid(file_name, [RowProblem(0, None, "无法识别文件编码（应为 UTF-8 或 GBK/GB18030 的 CSV）。")])


def _csv_rows(text: str, mapping: ColumnMapping, file_name: str) -> Iterator[tuple[int, list[str]]]:
    delimiter = mapping.delimiter
    if delimiter == "auto":
        first_lines = text[:4096].splitlines()[:HEADER_SEARCH_ROWS] or [""]
        counts = {d: max(line.count(d) for line in first_lines) for d in (",", "\t", ";")}
        delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) > 0 else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            message = f"有一格超过 {csv.field_size_limit()} 个字符，不是费用明细。"
        else:
            message = "CSV 格式错误，无法分行分列（多为引号不成对）。"
        raise HisFileInvalid(file_name, [RowProblem(number + 1, None, message)]) from exc


def _xlsx_rows(data: bytes, file_name: str) -> Iterator[tuple[int, list[str]]]:
    import zipfile
    import zlib
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # A damaged workbook fails in the zip, its compression or its XML (ParseError, zlib.error, EOFError:
    # found by tests/fuzz), each the same to the clerk: the file cannot be read.
    unreadable = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError, ParseError,
                  zlib.error, EOFError)
    try:
        # A zip bomb (1.5 MB packed, 16 GB unpacked) is refused by the sizes its directory declares;
        # zipfile never inflates a member past its declared size (it fails the CRC instead).
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise HisFileInvalid(file_name, [RowProblem(0, None, (
                f"XLSX 文件解压后有 {unpacked // MiB} MiB，超过 {MAX_XLSX_UNPACKED_BYTES // MiB} MiB 的上限，"
                "不像费用明细导出（可能是恶意构造的压缩文件）；请从 HIS 重新导出。"))])
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except unreadable as exc:
        raise HisFileInvalid(file_name, [RowProblem(0, None, f"无法打开 XLSX 文件：{_short(str(exc), 80)}")]) from exc
    number = 0
    try:
        if not workbook.worksheets:
            return
        sheet = workbook.worksheets[0]
        # The sheet's declared size may claim XFD1048576: read at most one column and one row past the limits.
        declared = sheet.max_column if isinstance(sheet.max_column, int) and sheet.max_column > 0 else MAX_COLUMNS + 1
        rows = sheet.iter_rows(min_row=1, max_row=MAX_ROWS + 1, max_col=min(declared, MAX_COLUMNS + 1),
                               values_only=True)
        for number, values in enumerate(rows, start=1):
            yield number, [_cell_text(v) for v in values]
    except unreadable as exc:
        raise HisFileInvalid(file_name, [RowProblem(number + 1, None, f"XLSX 内容无法读取：{_short(str(exc), 80)}")]) from exc
    finally:
        workbook.close()


def _detect_format(data: bytes, path: Path) -> str:
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise HisFileInvalid(path.name, [RowProblem(0, None, "这是旧版 Excel（.xls）文件：请在 Excel 中另存为 .xlsx 或 CSV 后导入。")])
    if b"\x00" in data[:8192]:
        raise HisFileInvalid(path.name, [RowProblem(0, None, "不是 CSV 或 XLSX 文件。")])
    return "csv"


def read_his_file(path: Path, mapping: ColumnMapping) -> ParsedHisFile:
    """Read and check the whole file; raises `HisFileInvalid` listing EVERY problem found."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # never more than the limit in memory
    except OSError as exc:
        raise HisFileInvalid(path.name, [RowProblem(0, None, f"无法读取文件：{exc.strerror or exc}")]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise HisFileInvalid(path.name, [RowProblem(0, None, (
            f"文件超过 {MAX_FILE_BYTES // MiB} MiB 的上限，不像一次住院的费用明细；请按住院号和日期重新导出。"))])
    if not data.strip():
        raise HisFileInvalid(path.name, [RowProblem(0, None, "文件是空的。")])
    file_format = _detect_format(data, path)
    encoding: str | None = None
    if file_format == "xlsx":
        records: Iterator[tuple[int, list[str]]] = _xlsx_rows(data, path.name)
    else:
        text, encoding = _decode(data, path.name)
        nul = text.find("\x00")
        if nul >= 0:  # no database keeps NUL in text; a CSV holds none unless damaged
            line = text.count("\n", 0, nul) + 1
            raise HisFileInvalid(path.name, [RowProblem(line, None, "含有空字符（NUL），文件可能已损坏。")])
        records = _csv_rows(text, mapping, path.name)
    rows = _Checker(path.name, mapping).check(records)
    return ParsedHisFile(path.name, hashlib.sha256(data).hexdigest(), file_format, encoding, rows)


@dataclass
class _Checker:
    file_name: str
    mapping: ColumnMapping
    problems: list[RowProblem] = field(default_factory=list)
    _dates: dict[str, dt.date | None] = field(default_factory=dict)
    _headers: dict[str, str] = field(default_factory=dict)  # field → the header as written in the file
    _occurrences: dict[str, int] = field(default_factory=dict)  # content → times seen (lines without an id)

    def problem(self, row: int, field_name: str | None, message: str) -> None:
        column = self._headers.get(field_name, FIELD_LABELS.get(field_name, field_name)) if field_name else None
        self.problems.append(RowProblem(row, column, message))

    def _locate_header(self, records: Iterator[tuple[int, list[str]]]) -> tuple[int, dict[str, int]] | None:
        aliases = {field_name: {_normalise_header(a) for a in names} for field_name, names in self.mapping.columns.items()}
        best: tuple[int, int, dict[str, int]] | None = None
        for number, record in records:
            if number > HEADER_SEARCH_ROWS:
                break
            if not any(cell.strip() for cell in record):
                continue
            positions: dict[str, int] = {}
            written: dict[str, str] = {}
            for index, cell in enumerate(record):
                key = _normalise_header(cell)
                for field_name, names in aliases.items():
                    if key in names and field_name not in positions:
                        positions[field_name] = index
                        written[field_name] = cell.strip()
            found_required = sum(1 for f in REQUIRED_FIELDS if f in positions)
            if found_required == len(REQUIRED_FIELDS):
                self._headers = written
                return number, positions
            if best is None or found_required > best[1]:
                best = (number, found_required, positions)
        if best is None:
            self.problems.append(RowProblem(0, None, "文件中没有内容（没有表头，也没有费用明细）。"))
            return None
        number, _, positions = best
        missing = "、".join(f"“{FIELD_LABELS[f]}”" for f in REQUIRED_FIELDS if f not in positions)
        expected = "；".join(f"{FIELD_LABELS[f]}：{'/'.join(self.mapping.columns[f])}" for f in REQUIRED_FIELDS
                            if f not in positions)
        self.problems.append(RowProblem(0, None, f"缺少必需的列 {missing}（表头应在第 {number} 行；列映射"
                                                 f"“{self.mapping.name}”认得的表头为 {expected}）。"))
        return None

    def check(self, records: Iterator[tuple[int, list[str]]]) -> tuple[HisRow, ...]:
        located = self._locate_header(records)
        if located is None:
            raise HisFileInvalid(self.file_name, self.problems)
        header_row, positions = located
        rows: list[HisRow] = []
        line_rows: dict[str, int] = {}  # HIS line id → the row it first appears on
        width = max(positions.values()) + 1
        skip_words = self.mapping.skip_rows_starting_with
        for number, record in records:
            if number > MAX_ROWS:
                self.problems = [RowProblem(0, None, (
                    f"文件超过 {MAX_ROWS} 行的上限，不像一次住院的费用明细；请按住院号和日期重新导出。"))]
                raise HisFileInvalid(self.file_name, self.problems)
            if len(record) > MAX_COLUMNS and any(cell.strip() for cell in record[MAX_COLUMNS:]):
                self.problems = [RowProblem(number, None, f"超过 {MAX_COLUMNS} 列的上限，不像费用明细导出。")]
                raise HisFileInvalid(self.file_name, self.problems)
            if not "".join(record).strip():
                continue
            if skip_words and "".join(record).strip().startswith(skip_words):
                continue
            if len(record) < width:
                record = record + [""] * (width - len(record))
            cells = {f: record[i].strip() for f, i in positions.items()}
            line_id = cells.get("line_id")
            if line_id:
                first_row = line_rows.setdefault(line_id, number)
                if first_row != number:
                    self.problem(number, "line_id", f"明细流水号 {line_id} 与第 {first_row} 行重复。")
            parsed = self._row(number, cells)
            if parsed is not None:
                rows.append(parsed)
        if not rows and not self.problems:
            self.problems.append(RowProblem(0, None, f"表头（第 {header_row} 行）之下没有费用明细。"))
        self._refund_checks(rows)
        if self.problems:
            self.problems.sort(key=lambda p: p.row)
            raise HisFileInvalid(self.file_name, self.problems)
        return tuple(rows)

    # --- one row ---

    def _number(self, row: int, field_name: str, text: str, places: int) -> Decimal | None:
        label = FIELD_LABELS[field_name]
        if not text:
            self.problem(row, field_name, f"缺少{label}。")
            return None
        if len(text) > MAX_NUMBER_CHARS:
            self.problem(row, field_name, f"{label}“{_short(text)}”过长（最多 {MAX_NUMBER_CHARS} 个字符）。")
            return None
        cleaned = text
        if not _NUMBER.fullmatch(cleaned):
            cleaned = text.replace("￥", "").replace("¥", "").strip()
            if _GROUPED_NUMBER.fullmatch(cleaned):
                cleaned = cleaned.replace(",", "")
            if not _NUMBER.fullmatch(cleaned):
                self.problem(row, field_name, f"{label}“{_short(text)}”不是数字。")
                return None
        value = Decimal(cleaned)  # the pattern above admits only plain decimals
        if abs(value) >= _LARGEST:
            self.problem(row, field_name, f"{label}“{_short(text)}”过大。")
            return None
        point = cleaned.find(".")
        if point >= 0 and len(cleaned) - point - 1 > places and value != value.quantize(Decimal(1).scaleb(-places)):
            self.problem(row, field_name, f"{label}“{_short(text)}”最多 {places} 位小数。")
            return None
        return value

    def _date(self, row: int, text: str) -> dt.date | None:
        if not text:
            self.problem(row, "charged_on", "缺少费用日期。")
            return None
        if text in self._dates:
            parsed = self._dates[text]
        else:
            parsed = None
            for date_format in self.mapping.date_formats:
                try:
                    parsed = dt.datetime.strptime(text, date_format).date()
                    break
                except ValueError:
                    continue
            if parsed is None and _ISO_DATE.fullmatch(text):
                try:
                    parsed = dt.date.fromisoformat(text)  # what a date cell of an XLSX file reads as
                except ValueError:
                    parsed = None
            self._dates[text] = parsed
        if parsed is None:
            examples = "、".join(dt.date(2026, 3, 5).strftime(f) for f in self.mapping.date_formats[:3])
            self.problem(row, "charged_on", f"费用日期“{_short(text)}”无法识别（应如 {examples}）。")
        return parsed

    def _row(self, row: int, cells: dict[str, str]) -> HisRow | None:
        before = len(self.problems)
        if has_unsafe("".join(cells.values())):  # rare: look closer only then
            for field_name, text in cells.items():
                found = unsafe_in(text)
                if found:
                    self.problem(row, field_name, f"{FIELD_LABELS[field_name]}含有不可见的控制字符或文字方向字符"
                                                  f"（{'、'.join(found[:3])}），请在 HIS 中改正后重新导出。")
            return None
        if max(map(len, cells.values())) > _SHORTEST_LIMIT:  # rare: look closer only then
            for field_name, limit in MAX_LENGTHS.items():
                if len(cells.get(field_name, "")) > limit:
                    self.problem(row, field_name, f"{FIELD_LABELS[field_name]}超过 {limit} 个字。")
        his_code = cells["his_code"]
        if not his_code:
            self.problem(row, "his_code", "缺少项目编码。")
        name = cells["name"]
        if not name:
            self.problem(row, "name", "缺少项目名称。")
        category: ChargeCategory | None = None
        word = cells.get("category", "")
        if word:
            category = self.mapping.categories.get(word)
            if category is None:
                try:
                    category = ChargeCategory(word)
                except ValueError:
                    self.problem(row, "category", f"费用类别“{_short(word)}”未知（列映射“{self.mapping.name}”认得：{self.mapping.category_words()}）。")
        quantity = self._number(row, "quantity", cells["quantity"], 4)
        if quantity is not None and quantity == 0:
            self.problem(row, "quantity", "数量为 0。")
            quantity = None
        unit_price = self._number(row, "unit_price", cells["unit_price"], 4)
        if unit_price is not None and unit_price < 0:
            self.problem(row, "unit_price", f"单价“{cells['unit_price']}”为负（退费请用负数量，单价保持正数）。")
            unit_price = None
        amount: Decimal | None = None
        if "amount" in cells:
            amount = self._number(row, "amount", cells["amount"], 2)
        charged_on = self._date(row, cells["charged_on"])
        line_id = cells.get("line_id") or None
        refund_of = cells.get("refund_of") or None
        if quantity is not None and unit_price is not None:
            expected = (quantity * unit_price).quantize(FEN, ROUND_HALF_UP)
            if abs(expected) >= _LARGEST:  # each within bounds, their product not (it would overflow storage)
                self.problem(row, "amount", f"金额（数量 × 单价 = {expected:.0f}）过大。")
            elif amount is None and "amount" not in cells:
                amount = expected
            elif amount is not None and amount != expected:
                self.problem(row, "amount", f"金额 {amount} 与 数量 × 单价 = {quantity.normalize():f} × "
                                            f"{unit_price.normalize():f} = {expected} 不符。")
            if quantity < 0 and refund_of is None:
                self.problem(row, "refund_of", "数量为负的退费行须填写所退原明细的流水号（原明细流水号列）。")
            if quantity > 0 and refund_of is not None:
                self.problem(row, "refund_of", f"数量为正的明细不应填写原明细流水号（{refund_of}）。")
        if len(self.problems) > before:
            return None
        assert quantity is not None and unit_price is not None and amount is not None and charged_on is not None
        dept = cells.get("dept") or None
        order_group = cells.get("order_group") or None
        diagnosis_code = cells.get("diagnosis_code") or None
        if line_id is not None:
            fingerprint = line_id_fingerprint(line_id)
        else:
            # The same content twice in one export is two lines: the occurrence count tells them apart.
            content = "\x1f".join((his_code, name, category.value if category else "", f"{quantity.normalize():f}",
                                    f"{unit_price.normalize():f}", str(amount), charged_on.isoformat(), dept or "",
                                    order_group or "", diagnosis_code or ""))
            occurrence = self._occurrences.get(content, 0) + 1
            self._occurrences[content] = occurrence
            fingerprint = "h:" + hashlib.sha256(f"{content}\x1f{occurrence}".encode()).hexdigest()[:62]
        return HisRow(row, line_id, his_code, name, category, quantity, unit_price, amount, charged_on, dept,
                      order_group, diagnosis_code, refund_of, fingerprint)

    # --- across rows ---

    def _refund_checks(self, rows: list[HisRow]) -> None:
        by_line_id: dict[str, HisRow] = {}
        for row in rows:
            if row.his_line_id is not None:
                by_line_id.setdefault(row.his_line_id, row)
        refunded: dict[str, Decimal] = {}
        for row in rows:
            if row.refund_of_line_id is None:
                continue
            original = by_line_id.get(row.refund_of_line_id)
            if original is None:
                continue  # may be a line imported earlier: checked against the stay at import
            if original.refund_of_line_id is not None:
                self.problem(row.row, "refund_of", f"原明细流水号 {row.refund_of_line_id}（第 {original.row} 行）本身是退费行。")
                continue
            if original.his_code != row.his_code:
                self.problem(row.row, "his_code", f"退费行的项目编码 {row.his_code} 与原明细（第 {original.row} 行）的 "
                                                  f"{original.his_code} 不同。")
                continue
            total = refunded.get(row.refund_of_line_id, Decimal(0)) - row.quantity
            refunded[row.refund_of_line_id] = total
            if total > original.quantity:
                self.problem(row.row, "quantity", f"退费数量合计 {total.normalize():f} 超过原明细（第 {original.row} 行）"
                                                  f"的数量 {original.quantity.normalize():f}。")


# --- importing into a stay ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    import_id: int | None
    rows: int  # lines in the file
    added: int  # lines new to the stay
    already_present: int  # lines imported before (same fingerprint)
    unmatched: int  # added lines whose HIS code matches no catalogue code yet (flagged for the clerk)
    # Lines imported before whose code, quantity or amount now differ in the HIS: the stored line is
    # kept (it may have been corrected by hand); the clerk is told, to correct or refund if needed.
    differing: tuple[RowProblem, ...] = ()


def open_stay(session: Session, stay_id: int, what: str, lock: bool = False) -> Stay:
    """The stay, if its lines may still change; else a clear refusal.

    `lock`: hold the stay's row until the transaction ends (PostgreSQL), so two counters adding
    lines to one stay at once take turns instead of both numbering from the same `seq`.
    """
    query = select(Stay).where(Stay.id == stay_id)
    stay = session.scalars(query.with_for_update() if lock else query).first()
    if stay is None:
        raise StayNotFound(stay_id)
    if stay.status not in OPEN_STATUSES:
        labels = {StayStatus.SETTLED: "已结算", StayStatus.CANCELLED: "已撤销", StayStatus.PENDING_BACKFILL: "待补登记"}
        raise WorkflowError(f"该住院（住院号 {stay.admission_no}）{labels.get(stay.status, stay.status.value)}，不能再{what}。")
    refuse_while_settling(session, stay_id)  # lines frozen while the settlement is on its way
    return stay


def next_seq(session: Session, stay_id: int) -> int:
    current = session.scalar(select(func.max(ChargeLine.seq)).where(ChargeLine.stay_id == stay_id))
    return (current or 0) + 1


def import_his_file(session: Session, stay_id: int, parsed: ParsedHisFile, actor: OperatorInfo, counter_name: str,
                    mapping_name: str) -> ImportResult:
    """Add the file's lines new to the stay, all or nothing; codes matched (`003 §27`); audited."""
    from app.workflow.catalogue import catalogue_categories
    from app.workflow.code_map import match_codes

    require(actor, Permission.IMPORT_CHARGES)
    stay = open_stay(session, stay_id, "导入费用", lock=True)
    lines = _LINES
    # Raw stored figures (fen, 1/10000): no Decimal built per stored line.
    existing: dict[str, tuple[int, str, int, int, int | None]] = {
        fp: (line_id, code, qty, amount, refund_of)
        for line_id, fp, code, qty, amount, refund_of in session.execute(
            select(lines.c.id, lines.c.import_fingerprint, lines.c.his_code, lines.c.quantity_e4, lines.c.amount_fen,
                   lines.c.refund_of_id)
            .where(lines.c.stay_id == stay.id, lines.c.import_fingerprint.is_not(None)))
    }
    problems: list[RowProblem] = []
    differing: list[RowProblem] = []
    new_rows: list[HisRow] = []
    present = 0
    for row in parsed.rows:
        known = existing.get(row.fingerprint)
        if known is None:
            new_rows.append(row)
            continue
        present += 1
        if row.his_line_id is not None and (known[1] != row.his_code or known[2] != _e4(row.quantity)
                                            or known[3] != _fen(row.amount)):
            differing.append(RowProblem(
                row.row, FIELD_LABELS["line_id"],
                f"明细流水号 {row.his_line_id} 已导入，HIS 中为 {row.his_code}，数量 {row.quantity.normalize():f}，"
                f"金额 {row.amount}；本地为 {known[1]}，数量 {Decimal(known[2]).scaleb(-4).normalize():f}，"
                f"金额 {Decimal(known[3]).scaleb(-2)}。本地明细未改动，如需请手工更正或退费。"))
    # A charge before the admission: most often the admission was registered with the wrong date (the
    # day at the counter, not the HIS's); the centre would refuse these lines at discharge (3005).
    for row in new_rows:
        if row.charged_on < stay.admitted_on:
            problems.append(RowProblem(
                row.row, FIELD_LABELS["charged_on"],
                f"费用日期 {row.charged_on.isoformat()} 早于入院日期 {stay.admitted_on.isoformat()}——入院日期是否录错？"
                "请与 HIS 核对入院日期；入院登记的日期有误的，请在“入院登记”页按“更正登记”（须审核员同意）更正后再导入。"))
    new_fingerprints = {row.fingerprint for row in new_rows}
    # Refunds of lines imported earlier: the original must be in the stay, same code, not over-refunded.
    earlier_ids = sorted({existing[ref][0] for ref in (line_id_fingerprint(r.refund_of_line_id) for r in new_rows
                                                       if r.refund_of_line_id is not None)
                          if ref not in new_fingerprints and ref in existing})
    already_refunded: dict[int, int] = {}
    if earlier_ids:
        for original_id, total in session.execute(
                select(lines.c.refund_of_id, func.sum(lines.c.quantity_e4))
                .where(lines.c.refund_of_id.in_(earlier_ids)).group_by(lines.c.refund_of_id)):
            already_refunded[original_id] = -int(total)
    for row in new_rows:
        if row.refund_of_line_id is None:
            continue
        ref = line_id_fingerprint(row.refund_of_line_id)
        if ref in new_fingerprints:
            continue  # checked within the file
        original = existing.get(ref)
        if original is None:
            problems.append(RowProblem(row.row, FIELD_LABELS["refund_of"],
                                       f"所退的原明细 {row.refund_of_line_id} 不在本文件中，也未曾导入本次住院。"))
        elif original[4] is not None:
            problems.append(RowProblem(row.row, FIELD_LABELS["refund_of"], f"原明细 {row.refund_of_line_id} 本身是退费行。"))
        elif original[1] != row.his_code:
            problems.append(RowProblem(row.row, FIELD_LABELS["his_code"],
                                       f"退费行的项目编码 {row.his_code} 与原明细 {row.refund_of_line_id} 的 {original[1]} 不同。"))
        else:
            total = already_refunded.get(original[0], 0) - _e4(row.quantity)
            already_refunded[original[0]] = total
            if total > original[2]:
                problems.append(RowProblem(row.row, FIELD_LABELS["quantity"],
                                           f"退费数量合计 {Decimal(total).scaleb(-4).normalize():f} 超过原明细 "
                                           f"{row.refund_of_line_id} 的数量 {Decimal(original[2]).scaleb(-4).normalize():f}。"))
    if problems:
        problems.sort(key=lambda p: p.row)
        raise HisFileInvalid(parsed.file_name, problems)

    matches = match_codes(session, {row.his_code for row in new_rows})
    # A line without a category takes its catalogue entry's.
    categories = catalogue_categories(session, {m.catalogue_code for m in matches.values() if m.catalogue_code})
    record = HisImport(stay_id=stay.id, file_name=parsed.file_name[:255], file_sha256=parsed.sha256,
                       file_format=parsed.file_format, encoding=parsed.encoding, mapping_name=mapping_name,
                       row_count=len(parsed.rows), added_count=len(new_rows), imported_by=actor.id)
    session.add(record)
    session.flush()
    unmatched = 0
    if new_rows:
        seq = next_seq(session, stay.id)
        created_at: object = utc_now().replace(tzinfo=None)  # stored as naive UTC, as UtcDateTime does
        # SQLite keeps dates as ISO text (what SQLAlchemy's Date and DateTime write there): handing the
        # text over directly saves a conversion per line; PostgreSQL takes the date objects.
        as_text = session.get_bind().dialect.name == "sqlite"
        if as_text:
            created_at = f"{created_at:%Y-%m-%d %H:%M:%S.%f}"
        his = ChargeSource.HIS.value
        values: list[tuple[Any, ...]] = []
        stay_key, actor_key, import_key = stay.id, actor.id, record.id  # not an ORM attribute read per line
        # What each HIS code stores: (catalogue code, its category's text, counts as unmatched).
        stored = {his_code: (match.catalogue_code,
                             categories[match.catalogue_code].value if match.catalogue_code in categories else None,
                             match.status == "unmatched")
                  for his_code, match in matches.items()}
        for offset, row in enumerate(new_rows):
            code, catalogue_category, is_unmatched = stored[row.his_code]
            unmatched += is_unmatched
            values.append((  # in the order of _INSERT_COLUMNS
                stay_key, seq + offset, row.his_code, code, row.name,
                row.category.value if row.category is not None else catalogue_category,
                int(row.quantity * 10000), int(row.unit_price * 10000), int(row.amount * 100),  # exact: places checked
                row.charged_on.isoformat() if as_text else row.charged_on, row.diagnosis_code, row.dept,
                row.order_group, his, row.fingerprint, actor_key, created_at, import_key, False,
            ))
        _insert_lines(session, values)
        refunds = [row for row in new_rows if row.refund_of_line_id is not None]
        if refunds:
            wanted = {row.fingerprint for row in refunds} | {line_id_fingerprint(r.refund_of_line_id or "") for r in refunds}
            ids: dict[str, int] = {}
            for batch in _batches(sorted(wanted)):
                ids.update((fp, line_id) for line_id, fp in session.execute(
                    select(lines.c.id, lines.c.import_fingerprint)
                    .where(lines.c.stay_id == stay.id, lines.c.import_fingerprint.in_(batch))))
            session.execute(
                update(lines).where(lines.c.id == bindparam("line")).values(refund_of_id=bindparam("original")),
                [{"line": ids[r.fingerprint], "original": ids[line_id_fingerprint(r.refund_of_line_id or "")]}
                 for r in refunds],
            )
    audit.record(session, "his_import", operator_id=actor.id, counter_name=counter_name, entity_type="stay",
                 entity_id=stay.id, detail={"his_import_id": record.id, "file": parsed.file_name,
                                            "sha256": parsed.sha256, "format": parsed.file_format,
                                            "encoding": parsed.encoding, "mapping": mapping_name,
                                            "rows": len(parsed.rows), "added": len(new_rows),
                                            "already_present": present, "unmatched": unmatched,
                                            "differing_rows": [p.row for p in differing]})
    return ImportResult(record.id, len(parsed.rows), len(new_rows), present, unmatched, tuple(differing))


def _e4(value: Decimal) -> int:
    return int(value.scaleb(4))  # exact: the reader admits at most four places


def _fen(value: Decimal) -> int:
    return int(value.scaleb(2))  # exact: the reader admits at most two places


def _batches(values: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


# charge_line as a plain table (for the queries above): integers and text come back as they are
# stored, so comparing 20,000 stored lines builds no Decimal per line.
_LINES = table(
    "charge_line",
    column("id"), column("stay_id"), column("seq"), column("his_code"), column("quantity_e4"), column("amount_fen"),
    column("import_fingerprint"), column("refund_of_id"),
)
_INSERT_COLUMNS = ("stay_id", "seq", "his_code", "code", "name", "category", "quantity_e4", "unit_price_e4",
                   "amount_fen", "charged_on", "diagnosis_code", "dept", "order_group", "source", "import_fingerprint",
                   "created_by", "created_at", "his_import_id", "patient_informed")


def _insert_lines(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Store the lines in the session's transaction, the fastest way each database offers.

    A 20,000-line import must take well under a second: through `insert()` SQLAlchemy spends as
    long building each row's parameters as the database spends storing it, and on PostgreSQL even
    a driver-level executemany is one statement per line (COPY is one stream: several times
    faster). The values are already in storage form (fen and 1/10000 as integers, category and
    source as their text; dates as ISO text on SQLite).
    """
    connection = session.connection()
    names = ", ".join(_INSERT_COLUMNS)
    try:
        if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
            import psycopg

            driver_connection: Any = connection.connection.driver_connection
            try:
                with driver_connection.cursor() as cursor, cursor.copy(
                        f"COPY charge_line ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            except psycopg.errors.IntegrityError as exc:
                raise IntegrityError("COPY charge_line", None, exc) from exc
        else:
            marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
            connection.exec_driver_sql(
                f"INSERT INTO charge_line ({names}) VALUES ({', '.join([marker] * len(_INSERT_COLUMNS))})", rows)
    except IntegrityError as exc:
        # Only another counter writing the same stay's lines at this moment gets here.
        raise WorkflowError("另一窗口正在修改该住院的费用明细，本次导入未进行：请稍后重新导入。") from exc
