"""The pre-audit engine: a `StayAudit` in, the `Finding`s the agency would likely deduct out.

Pure and fast: no database, no Qt, no I/O. The rules and their parameters come from a `RuleSet`
(`resources/preaudit/*.json`). The lines are walked once: refunds are netted against their
originals, each line's fund part is worked out as the settlement rules would split it (or taken
from the recorded split), and the day-based rules group by (code, day) in the same pass — no rule
compares lines pairwise, so a month of a million lines takes seconds.

A refund counts on its original's day and with its original's classification (`003 §15`); a
line refunded in full has nothing at risk and is not reported.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable
from decimal import Decimal

from app.preaudit.model import AuditCatalogueEntry, AuditLine, Finding, StayAudit
from app.preaudit.ruleset import RULE_IDS, Indication, RuleSet, default_ruleset
from app.rules.case import round_money
from app.rules.classify import FUND, LineRule, line_injury, line_rule, split_line

ZERO = Decimal("0.00")
ONE = Decimal(1)
_ORDER = {rule_id: index for index, rule_id in enumerate(RULE_IDS)}


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _longest_prefix(code: str, table: dict[str, int]) -> int | None:
    best: str | None = None
    for prefix in table:
        if code.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else table[best]


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


class _Auditor:
    def __init__(self, stay: StayAudit, rules: RuleSet) -> None:
        self.stay = stay
        self.rules = rules
        self.findings: list[Finding] = []

    def on(self, rule_id: str) -> bool:
        return self.rules.rules[rule_id].enabled

    def add(self, seq: int | None, rule_id: str, message: str, amount: Decimal) -> None:
        rule = self.rules.rules[rule_id]
        self.findings.append(Finding(seq, rule_id, message, rule.source, round_money(amount), rule.advice))

    def run(self) -> list[Finding]:
        stay = self.stay
        rules = self.rules
        catalogue: dict[str, AuditCatalogueEntry] = {entry.code: entry for entry in stay.catalogue}
        injury_of = {d.code: d.injury for d in stay.diagnoses}
        names = {d.code: d.name for d in stay.diagnoses}

        # --- one pass: each line's fund part, netted onto its original --------------------------
        lines = stay.lines
        by_seq: dict[int, AuditLine] = {}
        originals: list[AuditLine] = []
        refunds: list[AuditLine] = []
        for line in lines:
            by_seq[line.seq] = line
            if line.refund_of is None:
                originals.append(line)
            else:
                refunds.append(line)
        # What decides a line's fund part, save its price: classified once per (code, flag, diagnosis).
        classes: dict[tuple[str, bool | None, str | None],
                      tuple[bool | None, AuditCatalogueEntry | None, LineRule]] = {}
        net_qty: dict[int, Decimal] = {}
        net_fund: dict[int, Decimal] = {}
        injury_eff: dict[int, bool | None] = {}

        def classify(line: AuditLine) -> tuple[bool | None, AuditCatalogueEntry | None, LineRule]:
            key = (line.code, line.injury, line.diagnosis)
            found = classes.get(key)
            if found is None:
                # The one 伤病分离 precedence and bucket rule (app.rules.classify); an unclassified line
                # (None) is weighed as injury here: the agency would judge what the fund is charged.
                injury = line_injury(line.injury, line.diagnosis, injury_of)
                entry = catalogue.get(line.code)
                rule = line_rule(injury is not False, entry is not None,
                                 entry.price_limit if entry else None, entry.max_pay if entry else None)
                found = classes[key] = (injury, entry, rule)
            return found

        def fund_of(line: AuditLine, original: AuditLine, rule: LineRule) -> Decimal:
            if line.over_limit is not None and rule.bucket == FUND:
                return line.amount - line.over_limit  # the split as recorded
            return split_line(rule, original.unit_price, line.quantity, line.amount)[1]

        for line in originals:
            injury, _entry, rule = classify(line)
            injury_eff[line.seq] = injury
            net_qty[line.seq] = line.quantity
            net_fund[line.seq] = fund_of(line, line, rule)
        for line in refunds:
            original = by_seq.get(line.refund_of)  # type: ignore[arg-type]
            if original is None:
                continue  # the case reader refuses such a refund; the database cannot hold one
            _injury, _entry, rule = classify(original)
            net_qty[original.seq] += line.quantity
            net_fund[original.seq] += fund_of(line, original, rule)

        # --- line rules, and the groups the day-based rules need ---------------------------------
        admitted, discharged, criteria = stay.admitted, stay.discharged, stay.criteria_met_on
        on = {rule_id: rules.rules[rule_id].enabled for rule_id in RULE_IDS}
        daily_extra = rules.rules["daily_limit"].params.get("extra_codes", ())
        usual_table = dict(rules.rules["repeated_same_day"].params.get("usual_per_day", {}))
        bed_prefixes = rules.rules["bed_days_exceed_stay"].params.get("bed_codes", ())
        indication_categories = rules.rules["indication_mismatch"].params.get("categories", ("drug",))
        # Per code: (daily-limited, usual count per day or None, bed-day item)
        code_kind: dict[str, tuple[bool, int | None, bool]] = {}
        indication_cache: dict[str, Indication | None] = {}
        stay_codes_injury = [code for code, injury in injury_of.items() if injury]
        stay_codes_other = [code for code, injury in injury_of.items() if not injury]
        fits_only_other: dict[str, bool] = {}

        day_groups: dict[tuple[str, dt.date], list[AuditLine]] = {}
        bed_lines: list[AuditLine] = []
        device_groups: dict[str, list[AuditLine]] = {}
        last_day = admitted
        add = self.add

        for line in originals:
            seq = line.seq
            fund = net_fund[seq]
            quantity = net_qty[seq]
            if quantity <= 0:
                continue  # refunded in full: nothing left to deduct
            day = line.date
            if day > last_day:
                last_day = day
            injury = injury_eff[seq]
            entry = catalogue.get(line.code)
            outside = day < admitted or (discharged is not None and day > discharged)
            if outside:
                if on["outside_stay_dates"] and fund > 0:
                    when = f"早于入院日期 {admitted}" if day < admitted else f"晚于出院日期 {discharged}"
                    add(seq, "outside_stay_dates",
                        f"{line.name} 费用日期 {day} {when}，基金支付部分 {fund:.2f} 元将被扣除", fund)
                continue  # deducted whole: the day-based rules do not count it again
            if criteria is not None and day > criteria and on["after_discharge_criteria"] and fund > 0:
                add(seq, "after_discharge_criteria",
                    f"{line.name} 发生于 {day}，晚于达到出院标准的日期 {criteria}，基金支付部分 {fund:.2f} 元将被扣除", fund)
            mismatch = False
            if line.injury is True and line.diagnosis is not None and injury_of.get(line.diagnosis) is False:
                mismatch = True
                if on["injury_diagnosis_mismatch"] and fund > 0:
                    add(seq, "injury_diagnosis_mismatch",
                        f"{line.name} 标记为工伤项目，但关联诊断 {line.diagnosis} {names.get(line.diagnosis, '')}"
                        f"是非工伤诊断，基金支付部分 {fund:.2f} 元将被扣除", fund)
            if (not mismatch and injury is not False and fund > 0 and on["indication_mismatch"]
                    and line.category in indication_categories):
                code = line.code
                if code not in indication_cache:
                    indication = indication_cache[code] = rules.indication_for(code)
                    if indication is not None:
                        prefixes = indication.diagnoses
                        fits_only_other[code] = (
                            any(c.startswith(prefixes) for c in stay_codes_other)
                            and not any(c.startswith(prefixes) for c in stay_codes_injury))
                indication = indication_cache[code]
                if indication is not None and fits_only_other[code]:
                    other = "、".join(f"{c} {names[c]}" for c in stay_codes_other if c.startswith(indication.diagnoses))
                    add(seq, "indication_mismatch",
                        f"{line.name}（{indication.name}）通常用于 {other}，与本次住院的工伤诊断不符，"
                        f"基金支付部分 {fund:.2f} 元可能按非工伤扣除", fund)
            if entry is None:
                if injury is not False and line.consent is not True and on["out_of_catalogue_no_consent"]:
                    state = "未记录告知" if line.consent is None else "未告知患者"
                    add(seq, "out_of_catalogue_no_consent",
                        f"{line.name} 不在工伤保险目录内（自费 {line.amount:.2f} 元），{state}；"
                        "患者可拒付，协议机构承担", ZERO)
                continue
            if entry.max_pay is not None and (entry.category == "device" or line.category == "device"):
                device_groups.setdefault(line.code, []).append(line)  # its limit is judged per configuration
            elif (entry.price_limit is not None and line.over_limit is not None and injury is not False
                  and line.unit_price > entry.price_limit and on["price_over_limit_unsplit"]):
                expected = line.amount - round_money(line.quantity * entry.price_limit)
                short = expected - line.over_limit
                if short > 0:
                    add(seq, "price_over_limit_unsplit",
                        f"{line.name} 单价 {line.unit_price} 高于限价 {entry.price_limit}，应拆出超限价自付 {expected:.2f} 元，"
                        f"记录为 {line.over_limit:.2f} 元（疑似目录对照错误），{short:.2f} 元将被扣除", short)
            kind = code_kind.get(line.code)
            if kind is None:
                code = line.code
                kind = code_kind[code] = (
                    entry.per_day or code.startswith(daily_extra),
                    _longest_prefix(code, usual_table),
                    code.startswith(bed_prefixes))
            if kind[0] or kind[1] is not None:
                key = (line.code, day)
                group = day_groups.get(key)
                if group is None:
                    day_groups[key] = [line]
                else:
                    group.append(line)
            if kind[2]:
                bed_lines.append(line)

        # --- day-based rules -----------------------------------------------------------------------
        for (code, day), group in day_groups.items():
            if len(group) == 1 and net_qty[group[0].seq] <= 1:
                continue  # the common case, decided without summing
            daily, usual, _bed = code_kind[code]
            quantity = sum((net_qty[line.seq] for line in group), ZERO)
            fund = sum((net_fund[line.seq] for line in group), ZERO)
            if fund <= 0:
                continue
            name = group[0].name
            if daily:
                if quantity > 1 and on["daily_limit"]:
                    risk = round_money(fund * (quantity - 1) / quantity)
                    self._spread(group, risk, net_fund, "daily_limit",
                                 lambda take: f"{name} {day} 计 {_qty(quantity)} 次，按日收费项目每日限 1 次，"
                                              f"超出部分 {take:.2f} 元将被扣除")
            elif usual is not None and quantity > usual and on["repeated_same_day"]:
                risk = round_money(fund * (quantity - usual) / quantity)
                self._spread(group, risk, net_fund, "repeated_same_day",
                             lambda take: f"{name} {day} 计 {_qty(quantity)} 次，超过常规的每日 {usual} 次，"
                                          f"超出部分 {take:.2f} 元可能被扣除")

        if bed_lines and on["bed_days_exceed_stay"]:
            self._bed_days(bed_lines, net_qty, net_fund, last_day)
        if device_groups:
            self._devices(device_groups, catalogue, net_qty, net_fund)
        self._settlements(net_fund)

        self.findings.sort(key=lambda f: (-1 if f.seq is None else f.seq, _ORDER[f.rule]))
        return self.findings

    def _spread(self, group: list[AuditLine], risk: Decimal, net_fund: dict[int, Decimal], rule_id: str,
                message: Callable[[Decimal], str]) -> None:
        """Put a group's excess on its latest lines (highest seq first), as the agency deducts it."""
        remaining = risk
        for line in sorted(group, key=lambda item: item.seq, reverse=True):
            take = min(remaining, net_fund[line.seq])
            if take <= 0:
                continue
            self.add(line.seq, rule_id, message(take), take)
            remaining -= take
            if remaining <= 0:
                break

    def _bed_days(self, bed_lines: list[AuditLine], net_qty: dict[int, Decimal], net_fund: dict[int, Decimal],
                  last_day: dt.date) -> None:
        stay = self.stay
        params = self.rules.rules["bed_days_exceed_stay"].params
        if stay.discharged is not None:
            days = (stay.discharged - stay.admitted).days + (1 if params.get("count_discharge_day", False) else 0)
        else:  # still in hospital: every day so far
            days = (last_day - stay.admitted).days + 1
        days = max(days, 1)
        total = sum((net_qty[line.seq] for line in bed_lines), ZERO)
        excess = total - days
        if excess <= 0:
            return
        for line in sorted(bed_lines, key=lambda item: (item.date, item.seq), reverse=True):
            quantity = net_qty[line.seq]
            take_units = min(excess, quantity)
            fund = net_fund[line.seq]
            risk = round_money(fund * take_units / quantity) if fund > 0 else ZERO
            if risk > 0:
                self.add(line.seq, "bed_days_exceed_stay",
                         f"床位费合计 {_qty(total)} 天，住院仅 {days} 天，{line.name}（{line.date}）中 {_qty(take_units)} 天"
                         f"超出，{risk:.2f} 元将被扣除", risk)
            excess -= take_units
            if excess <= 0:
                break

    def _devices(self, groups: dict[str, list[AuditLine]], catalogue: dict[str, AuditCatalogueEntry],
                 net_qty: dict[int, Decimal], net_fund: dict[int, Decimal]) -> None:
        rules = self.rules.rules
        units = rules["device_over_limit"].params.get("units_per_configuration", 1)
        replaced = rules["device_replaced_early"].params
        group_length = replaced.get("group_prefix_length", 6)
        min_years_table = dict(replaced.get("min_years", {}))
        history = self.stay.device_history
        for code, lines in groups.items():
            entry = catalogue[code]
            max_pay = entry.max_pay
            assert max_pay is not None
            name = entry.name
            if rules["device_over_limit"].enabled:
                flagged: set[int] = set()
                for line in lines:  # a recorded split that left more than the limit on the fund
                    if line.over_limit is not None and line.unit_price > max_pay:
                        expected = line.amount - round_money(line.quantity * max_pay)
                        short = expected - line.over_limit
                        if short > 0:
                            flagged.add(line.seq)
                            self.add(line.seq, "device_over_limit",
                                     f"{name} 单价 {line.unit_price} 高于最高支付限额 {max_pay}，超出部分应自付 {expected:.2f} 元，"
                                     f"记录为 {line.over_limit:.2f} 元，{short:.2f} 元将被扣除", short)
                allowed = max_pay * units
                fund = sum((net_fund[line.seq] for line in lines if line.seq not in flagged), ZERO)
                quantity = sum((net_qty[line.seq] for line in lines), ZERO)
                if fund > allowed:
                    excess = round_money(fund - allowed)
                    self._spread([line for line in lines if line.seq not in flagged], excess, net_fund,
                                 "device_over_limit",
                                 lambda take: f"{name} 本次配置 {_qty(quantity)} 件，基金支付合计 {fund:.2f} 元，"
                                              f"超过最高支付限额 {max_pay} × {units} 件，{take:.2f} 元将被扣除")
            if rules["device_replaced_early"].enabled and history:
                years = entry.min_years
                if years is None:
                    years = _longest_prefix(code, min_years_table)
                if years is None:
                    continue
                group = code[:group_length]
                earlier = [record for record in history if record.code[:group_length] == group]
                for line in lines:
                    fund = net_fund[line.seq]
                    previous = [r for r in earlier if r.configured_on < line.date < _add_years(r.configured_on, years)]
                    if previous and fund > 0:
                        last = max(previous, key=lambda r: r.configured_on)
                        self.add(line.seq, "device_replaced_early",
                                 f"{name} 上次配置 {last.name} 于 {last.configured_on}，最低使用年限 {years} 年，"
                                 f"{_add_years(last.configured_on, years)} 前更换基金不予支付，{fund:.2f} 元将被扣除", fund)

    def _settlements(self, net_fund: dict[int, Decimal]) -> None:
        stay = self.stay
        rules = self.rules.rules
        live = sorted((s for s in stay.prior_settlements if not s.cancelled),
                      key=lambda s: (s.settled_on, s.settlement_id))
        if rules["settled_twice"].enabled:
            if stay.stage == "discharge" and live:
                fund = sum((value for value in net_fund.values() if value > 0), ZERO)
                listed = "、".join(f"{s.settlement_id}（{s.settled_on}）" for s in live)
                self.add(None, "settled_twice",
                         f"本次住院已有未撤销的结算 {listed}，再次结算即重复结算，基金支付 {fund:.2f} 元将被扣除", fund)
            elif stay.stage == "claim" and len(live) > 1:
                extra = sum((s.fund_total for s in live[1:]), ZERO)
                listed = "、".join(f"{s.settlement_id}（{s.settled_on}）" for s in live)
                self.add(None, "settled_twice",
                         f"本次住院有 {len(live)} 笔未撤销的结算：{listed}，重复部分基金 {extra:.2f} 元将被扣除", extra)
        if rules["claimed_twice"].enabled and stay.prior_claims:
            live_ids = {s.settlement_id for s in live}
            claims = sorted((c for c in stay.prior_claims if c.settlement_id in live_ids or not stay.prior_settlements),
                            key=lambda c: (c.month, c.batch_no))
            if len(claims) > 1:
                extra = sum((c.fund_total for c in claims[1:]), ZERO)
                listed = "、".join(f"{c.batch_no}（{c.month}）" for c in claims)
                self.add(None, "claimed_twice",
                         f"本次住院的有效结算已在 {len(claims)} 个批次申报：{listed}，重复申报的基金 {extra:.2f} 元将被扣除", extra)


def audit(stay: StayAudit, rules: RuleSet | None = None) -> list[Finding]:
    """Every finding for the stay, stay-level ones first, then by seq and rule."""
    enabled = gc.isenabled()
    gc.disable()  # a tuple per line and no cycles: the cyclic collector would only re-walk them
    try:
        return _Auditor(stay, rules or default_ruleset()).run()
    finally:
        if enabled:
            gc.enable()
