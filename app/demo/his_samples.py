"""Sample HIS charge exports (CSV in GBK or UTF-8, XLSX) in the default mapping's layout.

For the tests, the bench (`bench/workflow.py`) and the demo: lines priced from the
demo counter's copy of the centre's catalogue (`resources/demo/catalogue.toml`), a few hospital-only
codes that match nothing (to be mapped by the clerk), injury and other diagnoses,
and refunds (negative quantity naming the original line). Deterministic for a seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from app.resources import resource_path

HEADERS = ("明细流水号", "项目编码", "项目名称", "费用类别", "数量", "单价", "金额", "费用日期", "开单科室",
           "医嘱组号", "诊断编码", "原明细流水号")
CATEGORY_WORDS = {"drug": "西药", "treatment": "诊疗", "consumable": "材料", "rehab": "康复", "device": "辅助器具"}
# Items the hospital bills under its own codes: nothing in the catalogue matches them.
HOSPITAL_ONLY = (
    ("HZ-9001", "院内制剂 消肿膏", "西药", Decimal("18.50")),
    ("HZ-9002", "一次性护理包（院内）", "材料", Decimal("12.00")),
    ("HZ-9003", "陪护床租用", "诊疗", Decimal("10.00")),
)


@dataclass(frozen=True)
class SampleLine:
    line_id: str
    his_code: str
    name: str
    category_word: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    charged_on: dt.date
    dept: str
    order_group: str
    diagnosis_code: str
    refund_of: str = ""

    def cells(self) -> list[str]:
        return [self.line_id, self.his_code, self.name, self.category_word, f"{self.quantity.normalize():f}",
                f"{self.unit_price:f}", f"{self.amount:f}", self.charged_on.isoformat(), self.dept,
                self.order_group, self.diagnosis_code, self.refund_of]


def _catalogue_items() -> list[tuple[str, str, str, Decimal]]:
    with resource_path("demo", "catalogue.toml").open("rb") as handle:
        document = tomllib.load(handle)
    items = []
    for entry in document["entries"]:
        if entry["category"] == "device":
            continue  # devices are a care of their own, not a hospital stay's lines
        limit = entry.get("price_limit")
        price = Decimal(limit) if limit not in (None, "none") else Decimal(len(entry["name"]) * 3 + 5)
        items.append((entry["code"], entry["name"], CATEGORY_WORDS[entry["category"]], price))
    return items


def sample_lines(count: int, *, start: dt.date, days: int = 10, seed: int = 6, injury_diagnosis: str = "S82.201",
                 other_diagnosis: str = "I10", unmatched: int = 3, refunds: int = 2,
                 line_id_prefix: str = "MX") -> list[SampleLine]:
    """`count` lines over `days` days from `start`: catalogue items, `unmatched` hospital-only lines, `refunds` refunds."""
    rng = random.Random(seed)
    items = _catalogue_items()
    lines: list[SampleLine] = []
    plain = max(count - refunds, 0)
    for index in range(plain):
        if index < unmatched:
            code, name, word, price = HOSPITAL_ONLY[index % len(HOSPITAL_ONLY)]
        else:
            code, name, word, price = items[rng.randrange(len(items))]
        quantity = Decimal(rng.randint(1, 6)) if word == "西药" else Decimal(rng.randint(1, 2))
        day = start + dt.timedelta(days=index * days // max(plain, 1))
        injury = rng.random() < 0.8
        lines.append(SampleLine(
            line_id=f"{line_id_prefix}{index + 1:07d}", his_code=code, name=name, category_word=word,
            quantity=quantity, unit_price=price, amount=(quantity * price).quantize(Decimal("0.01"), ROUND_HALF_UP),
            charged_on=day, dept="骨科" if injury else "心内科", order_group=f"YZ{day:%m%d}{index % 40:03d}",
            diagnosis_code=injury_diagnosis if injury else other_diagnosis))
    drugs = [line for line in lines if line.category_word == "西药"]
    for index in range(min(refunds, len(drugs))):
        original = drugs[-(index + 1)]
        lines.append(replace(original, line_id=f"{line_id_prefix}R{index + 1:06d}", quantity=Decimal(-1),
                             amount=-original.unit_price.quantize(Decimal("0.01"), ROUND_HALF_UP),
                             refund_of=original.line_id))
    return lines


def csv_bytes(lines: Sequence[SampleLine], *, encoding: str = "gbk", bom: bool = False,
              headers: Sequence[str] = HEADERS) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    keep = [HEADERS.index(h) for h in headers]
    for line in lines:
        cells = line.cells()
        writer.writerow([cells[i] for i in keep])
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_csv(path: Path, lines: Sequence[SampleLine], *, encoding: str = "gbk", bom: bool = False,
              headers: Sequence[str] = HEADERS) -> Path:
    """Write a CSV export (GBK by default, as most HIS do; `encoding="utf-8"`, `bom=True` for Excel's UTF-8)."""
    path.write_bytes(csv_bytes(lines, encoding=encoding, bom=bom, headers=headers))
    return path


def write_xlsx(path: Path, lines: Sequence[SampleLine], *, title: str | None = None) -> Path:
    """Write an XLSX export: numbers as numbers, dates as dates, an optional title row above the header."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("费用明细")
    if title:
        sheet.append([title])
    sheet.append(list(HEADERS))
    for line in lines:
        # Excel keeps numbers as binary floats; the importer reads each back by its shortest repr.
        sheet.append([line.line_id, line.his_code, line.name, line.category_word, float(line.quantity),
                      float(line.unit_price), float(line.amount), line.charged_on, line.dept, line.order_group,
                      line.diagnosis_code, line.refund_of or None])
    workbook.save(path)
    return path


# 张伟's stay in the demo: 胫骨干骨折 (S82.201, the recognition's injury) operated on day 1; his
# hypertension (I10, not the injury) treated on the side; one hospital-only ointment (to map);
# a single room above the bed-fee limit; two vials of cefazolin returned.
# (day, HIS code, name, category word, quantity, unit price, dept, order group, diagnosis)
_DEMO_STAY: tuple[tuple[int, str, str, str, str, str, str, str, str], ...] = (
    (0, "110200005", "住院诊查费", "诊疗", "1", "20.00", "骨科", "YZ-01", "S82.201"),
    (0, "110900003", "床位费（单人间）", "床位费", "1", "120.00", "骨科", "YZ-01", "S82.201"),
    (0, "111100001", "Ⅰ级护理", "护理费", "1", "28.00", "骨科", "YZ-01", "S82.201"),
    (0, "210100002", "X线摄影（DR，双部位）", "放射", "1", "120.00", "放射科", "YZ-02", "S82.201"),
    (0, "210200001", "CT平扫（单部位）", "放射", "1", "230.00", "放射科", "YZ-02", "S82.201"),
    (0, "250100001", "血常规（五分类）", "化验", "1", "20.00", "检验科", "YZ-03", "S82.201"),
    (0, "250300001", "凝血四项", "化验", "1", "80.00", "检验科", "YZ-03", "S82.201"),
    (0, "230100001", "常规心电图检查", "检查", "1", "25.00", "心电图室", "YZ-03", "S82.201"),
    (1, "330100001", "全身麻醉", "麻醉", "2.5", "380.00", "麻醉科", "YZ-04", "S82.201"),
    (1, "330200001", "麻醉中监测", "麻醉", "2.5", "40.00", "麻醉科", "YZ-04", "S82.201"),
    (1, "331500003", "胫腓骨骨折切开复位内固定术", "手术", "1", "2400.00", "骨科", "YZ-04", "S82.201"),
    (1, "C0104001003", "胫骨近端锁定钢板", "材料", "1", "4800.00", "骨科", "YZ-04", "S82.201"),
    (1, "C0101001003", "静脉留置针", "材料", "1", "12.00", "骨科", "YZ-05", "S82.201"),
    (1, "XJ01DB04", "注射用头孢唑林钠", "西药", "6", "4.80", "骨科", "YZ-05", "S82.201"),
    (1, "XB05BB01", "氯化钠注射液(0.9% 250ml)", "西药", "3", "2.50", "骨科", "YZ-05", "S82.201"),
    (1, "120100001", "静脉输液（第一组）", "治疗", "1", "12.00", "骨科", "YZ-05", "S82.201"),
    (1, "110900003", "床位费（单人间）", "床位费", "1", "120.00", "骨科", "YZ-01", "S82.201"),
    (1, "111100001", "Ⅰ级护理", "护理费", "1", "28.00", "骨科", "YZ-01", "S82.201"),
    (2, "XB01AB05", "依诺肝素钠注射液", "西药", "1", "32.00", "骨科", "YZ-06", "S82.201"),
    (2, "XM01AE01", "布洛芬缓释胶囊", "西药", "4", "0.80", "骨科", "YZ-06", "S82.201"),
    (2, "HZ-9001", "院内制剂 消肿膏", "中成药", "1", "18.50", "骨科", "YZ-06", "S82.201"),
    (2, "120200002", "中换药", "治疗", "1", "30.00", "骨科", "YZ-07", "S82.201"),
    (2, "C0102001004", "透明敷贴", "材料", "2", "6.50", "骨科", "YZ-07", "S82.201"),
    (2, "XC08CA01", "苯磺酸氨氯地平片", "西药", "7", "0.80", "心内科", "YZ-08", "I10"),
    (2, "110900003", "床位费（单人间）", "床位费", "1", "120.00", "骨科", "YZ-01", "S82.201"),
    (2, "111100002", "Ⅱ级护理", "护理费", "1", "18.00", "骨科", "YZ-01", "S82.201"),
    (3, "210100001", "X线摄影（DR，单部位）", "放射", "1", "70.00", "放射科", "YZ-09", "S82.201"),
    (3, "120200002", "中换药", "治疗", "1", "30.00", "骨科", "YZ-07", "S82.201"),
    (3, "110900003", "床位费（单人间）", "床位费", "1", "120.00", "骨科", "YZ-01", "S82.201"),
    (3, "111100002", "Ⅱ级护理", "护理费", "1", "18.00", "骨科", "YZ-01", "S82.201"),
)


def demo_lines(start: dt.date) -> list[SampleLine]:
    """张伟's stay in the demo, admitted on `start` (`resources/demo/his/张伟-住院费用.csv` has 2026-11-20)."""
    lines = []
    for index, (day, code, name, word, quantity, price, dept, group, diagnosis) in enumerate(_DEMO_STAY, start=1):
        amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        lines.append(SampleLine(f"ZW{index:04d}", code, name, word, Decimal(quantity), Decimal(price), amount,
                                start + dt.timedelta(days=day), dept, group, diagnosis))
    cefazolin = next(line for line in lines if line.his_code == "XJ01DB04")
    lines.append(replace(cefazolin, line_id=f"ZW{len(lines) + 1:04d}", quantity=Decimal(-2),
                         amount=Decimal(-2) * cefazolin.unit_price, charged_on=start + dt.timedelta(days=2),
                         refund_of=cefazolin.line_id))
    return lines


def demo_line_with_bad_row(start: dt.date) -> list[SampleLine]:
    """The same file with one row whose amount does not match (for training: refused, nothing imported)."""
    lines = demo_lines(start)
    lines[4] = replace(lines[4], amount=lines[4].amount + Decimal("0.01"))
    return lines


if __name__ == "__main__":  # regenerate the demo file: python -m app.demo.his_samples
    folder = resource_path("demo", "his")
    folder.mkdir(parents=True, exist_ok=True)
    print(write_csv(folder / "张伟-住院费用.csv", demo_lines(dt.date(2026, 11, 20))))
    print(write_csv(folder / "张伟-住院费用-有错行.csv", demo_line_with_bad_row(dt.date(2026, 11, 20))))
