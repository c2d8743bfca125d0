"""A month's three forms (`000 附件9 / 9-1 / 9-2`) built in memory, as `app.claims.service` would build them.

Deterministic for a seed: several 参保地 (local, other cities of the province, other provinces, one
long autonomous-region name), all three 就医类别, names of two to eight characters, valid ID numbers
(some ending in X), deductions on some rows, a correction (冲销) row of an earlier batch's settlement
on each detail form, and 附件9 summed from 9-1 and 9-2 the way the service sums them, so the totals
agree to the fen.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

from app.claims.forms import (
    CARE_LABELS,
    CORRECTION_NOTE,
    ZERO,
    Amounts,
    ClaimForms,
    DetailRow,
    DeviceRow,
    FormHeader,
    SummaryRow,
    add_amounts,
)
from app.idnumber import check_character

MONTH = "2024-05"
BATCH_NO = "H4408010000120240501"
EARLIER_BATCH = "H4408010000120240401"
HEADER = FormHeader(
    institution_name="湛江市第一人民医院", institution_code="H44080100001",
    agency_name="湛江市社会保险基金管理局", agency_code="440800",
    batch_no=BATCH_NO, generated_on=dt.date(2024, 6, 3), month=MONTH,
)

# --- what the official forms print, for the tests to expect (`000 附件9 / 9-1 / 9-2`) ---

# `000 附件9`: 《工伤保险费用结算表》.
SUMMARY_TITLE = "工伤保险费用结算表"
SUMMARY_HEADINGS = ["序号", "参保地", "就医类别", "人次", "费用总额", "基金支付总额", "自付金额", "扣款金额",
                    "基金结算金额"]
# `000 附件9-1` (titled as in `000 §31`), then 备注 for the correction rows.
DETAIL_TITLE = "工伤保险费用结算明细表（住院/康复）"
DETAIL_HEADINGS = ["序号", "参保地", "姓名", "身份证号码", "就医类别", "入院日期", "出院日期", "就医结算日期",
                   "费用总额", "基金支付总额", "自付金额", "扣款金额", "基金结算金额", "备注"]
# `000 附件9-2`, then 备注.
DEVICE_TITLE = "工伤保险费用结算明细表（辅助器具配置）"
DEVICE_HEADINGS = ["序号", "参保地", "姓名", "身份证号码", "辅助器具名称", "配置时间", "最低使用年限", "最高支付限额",
                   "费用总额", "基金支付总额", "自付金额", "扣款金额", "基金结算金额", "备注"]
TITLES = {"9": SUMMARY_TITLE, "9-1": DETAIL_TITLE, "9-2": DEVICE_TITLE}
HEADINGS = {"9": SUMMARY_HEADINGS, "9-1": DETAIL_HEADINGS, "9-2": DEVICE_HEADINGS}
# The header of all three forms (`000 附件9 / 9-1 / 9-2`); 单位：元 on 9-1 and 9-2 only.
HEADER_FIELDS = {"协议机构名称": HEADER.institution_name, "协议机构编码": HEADER.institution_code,
                 "结算机构名称": HEADER.agency_name, "结算机构编码": HEADER.agency_code,
                 "结算批次": HEADER.batch_no, "生成日期": HEADER.generated_on}
FOOTER = ["受理：", "审核：", "决定：", "机构签章："]

# --- the month's content ---

# 参保地 as the service writes it: the city, with its province when another province's.
PLACES = ("湛江市", "广州市", "茂名市", "湖南省长沙市", "广西壮族自治区南宁市", "吉林省长春市")
# Region codes for the ID numbers, by place.
PLACE_CODES = {"湛江市": "440802", "广州市": "440106", "茂名市": "440902", "湖南省长沙市": "430104",
               "广西壮族自治区南宁市": "450103", "吉林省长春市": "220102"}
NAMES = ("姚某某", "陈伟", "李晓明", "欧阳建国", "王芳", "黄志强", "阿依古丽·买买提", "梁秀英", "司马光明", "吴敏")
DEVICES = ("小腿假肢", "普通轮椅", "助听器、耳模", "膝踝足矫形器", "腋杖", "假肢（大腿）、硅胶内衬套")
DEVICE_LIMITS = {"小腿假肢": (4, Decimal("12000.00")), "普通轮椅": (4, Decimal("1500.00")),
                 "助听器、耳模": (5, Decimal("6000.00")), "膝踝足矫形器": (3, Decimal("3600.00")),
                 "腋杖": (2, None), "假肢（大腿）、硅胶内衬套": (None, Decimal("28000.00"))}


def id_number(rng: random.Random, place: str, female: bool) -> str:
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(16000))
    order = rng.randrange(0, 99) * 10 + rng.choice((0, 2, 4, 6, 8) if female else (1, 3, 5, 7, 9))
    first17 = f"{PLACE_CODES[place]}{birth:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)).scaleb(-2)  # two places, as fen make them


def _amounts(rng: random.Random, low: int, high: int, deduct: bool) -> Amounts:
    total = _money(rng, low, high)
    personal = (total * Decimal(rng.randrange(0, 25)) / 100).quantize(Decimal("0.01"))
    fund = total - personal
    deduction = (fund * Decimal(rng.randrange(1, 8)) / 100).quantize(Decimal("0.01")) if deduct else ZERO
    return Amounts(total, fund, personal, deduction, fund - deduction)


def _negated(amounts: Amounts) -> Amounts:
    # Deduction −0.00 on purpose: a negated zero must still print as 0.00.
    return Amounts(-amounts.total, -amounts.fund_total, -amounts.personal_total, amounts.deduction.copy_negate(),
                   -amounts.fund_total + amounts.deduction)


def _note(settled: dt.date) -> str:
    return f"{CORRECTION_NOTE}：批次 {EARLIER_BATCH} 中 {settled:%Y-%m-%d} 的结算，已撤销"


def claim_forms(details: int = 40, devices: int = 6, seed: int = 20240501) -> ClaimForms:
    """`details` rows on 附件9-1 and `devices` on 附件9-2 (each with one correction when ≥ 2 rows)."""
    rng = random.Random(seed)
    month_start = dt.date(2024, 5, 1)
    detail_rows: list[DetailRow] = []
    for index in range(details):
        place = PLACES[index % len(PLACES)] if index % 3 else PLACES[0]  # most are local
        name = NAMES[rng.randrange(len(NAMES))]
        settled = month_start + dt.timedelta(days=index * 31 // max(details, 1))
        correction = details >= 2 and index == details // 2
        care = "rehab" if index % 4 == 3 else "medical"
        if correction:  # an April settlement claimed in batch …0401, cancelled in May
            original = dt.date(2024, 4, 18)
            amounts = _negated(_amounts(rng, 800, 60000, deduct=False))
            admitted, discharged, note = original - dt.timedelta(days=12), original, _note(original)
        else:
            amounts = _amounts(rng, 800, 60000 if index % 50 else 1200000, deduct=index % 5 == 1)
            admitted = settled - dt.timedelta(days=rng.randrange(2, 90))
            # An interim settlement of a long rehab stay has no discharge date yet.
            discharged = None if index % 17 == 7 else settled
            note = ""
        detail_rows.append(DetailRow(
            seq=index + 1, insured_place=place, name=name, id_number=id_number(rng, place, index % 2 == 0),
            care_label=CARE_LABELS[care], admitted=admitted, discharged=discharged, settled=settled,
            amounts=amounts, correction=correction, note=note,
        ))
    device_rows: list[DeviceRow] = []
    for index in range(devices):
        place = PLACES[(index * 2) % len(PLACES)]
        device = DEVICES[index % len(DEVICES)]
        min_years, max_pay = DEVICE_LIMITS[device]
        correction = devices >= 2 and index == devices - 1
        configured = month_start + dt.timedelta(days=index * 29 // max(devices, 1))
        if correction:
            amounts = _negated(_amounts(rng, 300, 20000, deduct=False))
            configured, note = dt.date(2024, 3, 28), _note(dt.date(2024, 4, 2))
        else:
            amounts = _amounts(rng, 300, 20000, deduct=index % 3 == 1)
            note = ""
        device_rows.append(DeviceRow(
            seq=index + 1, insured_place=place, name=NAMES[(index * 3) % len(NAMES)],
            id_number=id_number(rng, place, index % 2 == 1), device_name=device, configured_on=configured,
            min_years=min_years, max_pay=max_pay, amounts=amounts, correction=correction, note=note,
        ))
    return ClaimForms(HEADER, summary_of(detail_rows, device_rows), tuple(detail_rows), tuple(device_rows))


def summary_of(details: list[DetailRow], devices: list[DeviceRow]) -> tuple[SummaryRow, ...]:
    """附件9: one row per 参保地 × 就医类别, corrections counting −1 人次 (as the service groups them)."""
    labels = list(CARE_LABELS.values())
    groups: dict[tuple[str, str], list[tuple[bool, Amounts]]] = defaultdict(list)
    for row in details:
        groups[(row.insured_place, row.care_label)].append((row.correction, row.amounts))
    for device in devices:
        groups[(device.insured_place, CARE_LABELS["device"])].append((device.correction, device.amounts))
    ordered = sorted(groups.items(), key=lambda item: (item[0][0], labels.index(item[0][1])))
    return tuple(
        SummaryRow(seq=number, insured_place=place, care_label=care,
                   person_times=sum(-1 if correction else 1 for correction, _ in members),
                   amounts=add_amounts(amounts for _, amounts in members))
        for number, ((place, care), members) in enumerate(ordered, start=1)
    )

