"""Which bucket a charge line goes in — defined once, used everywhere.

Two rules, each written here only; the settlement (`app.rules.settlement`), the 伤病分离 workspace
(`app.workflow.separation`, through `app.workflow.case_builder`), the discharge upload and its
readiness (`app.workflow.discharge`) and the pre-audit (`app.preaudit`) all call them, so the page's
preview, the upload, the slip and the agency's prediction can never disagree about a line
(`tests/rules/test_classify.py` ties each caller to these definitions):

1. **伤病分离 precedence** (`003 §15`, `000 六(二)`): a line's own flag (staff or the HIS) first;
   else the line follows its diagnosis. The diagnoses of the 工伤认定书 are injury diagnoses even where
   the stay does not list them — the recognition is the basis of 伤病分离 (`003 §15`) — unless the stay
   marks the code non-injury; the stay's own marking wins, a later marking (discharge) over an earlier
   one (admission). A line without a flag whose diagnosis is neither the stay's nor the recognition's is
   unclassified (None).
2. **The bucket rule** (`../shared/CASES.md` settle, `003 §3 §15`, `001 §15`): non-injury → non_injury;
   not in the catalogue → self_pay; unit price above the price limit (a device above its 最高支付限额)
   → the fund pays quantity × limit, the rest is over_limit; otherwise → fund. A refund takes its
   original's classification and unit price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

FUND = "fund"
OVER_LIMIT = "over_limit"
SELF_PAY = "self_pay"
NON_INJURY = "non_injury"
BUCKETS = (FUND, OVER_LIMIT, SELF_PAY, NON_INJURY)

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")


# --- 1. 伤病分离 precedence -------------------------------------------------------------------------


def diagnosis_injury(recognition_codes: Iterable[str], stay_diagnoses: Iterable[tuple[str, bool]]) -> dict[str, bool]:
    """code → injury, for every diagnosis a line of the stay may follow.

    `recognition_codes`: the 工伤认定书's diagnoses (injury, `003 §15`). `stay_diagnoses`: (code, injury)
    as the stay marks them, in the order they were made — a later marking of a code wins (discharge
    over admission), and any stay marking wins over the recognition."""
    injury = dict.fromkeys(recognition_codes, True)
    for code, flag in stay_diagnoses:
        injury[code] = bool(flag)
    return injury


def line_injury(flag: bool | None, diagnosis: str | None, injury_of: Mapping[str, bool]) -> bool | None:
    """The line's 伤病分离: its own flag, else its diagnosis's; None when neither decides (unclassified)."""
    if flag is not None:
        return flag
    if diagnosis is None:
        return None
    return injury_of.get(diagnosis)


# --- 2. the bucket rule ---------------------------------------------------------------------------


class LineRule(NamedTuple):
    """What decides a line's bucket, save its unit price (lines alike share one)."""

    bucket: str  # NON_INJURY, SELF_PAY, or FUND for a catalogue line (OVER_LIMIT when above `limit`)
    limit: Decimal | None  # the fund's highest unit price for a catalogue line (None: none)
    limit_kind: str  # "限价" or "最高支付限额": how the slip's reason names the limit


def payment_limit(price_limit: Decimal | None, max_pay: Decimal | None) -> tuple[Decimal | None, str]:
    """The fund's highest unit price for a catalogue item: the lower of its price limit and (devices)
    its 最高支付限额 per unit (`003 §3`, `001 §15`), and which of the two it is."""
    limits = [limit for limit in (price_limit, max_pay) if limit is not None]
    if not limits:
        return None, "限价"
    limit = min(limits)
    return limit, "最高支付限额" if max_pay is not None and limit == max_pay else "限价"


def line_rule(injury: bool, in_catalogue: bool, price_limit: Decimal | None = None,
              max_pay: Decimal | None = None) -> LineRule:
    """The bucket of a classified line (`injury` decided by `line_injury`), save its price."""
    if not injury:
        return LineRule(NON_INJURY, None, "")
    if not in_catalogue:
        return LineRule(SELF_PAY, None, "")
    limit, kind = payment_limit(price_limit, max_pay)
    return LineRule(FUND, limit, kind)


def split_line(rule: LineRule, unit_price: Decimal, quantity: Decimal, amount: Decimal) -> tuple[str, Decimal, Decimal]:
    """(bucket, fund, personal) of a line (or a refund, with its original's `unit_price`): a catalogue line
    priced above its limit is paid quantity × limit, rounded half-up to the fen, the rest over_limit."""
    if rule.bucket != FUND:
        return rule.bucket, _ZERO, amount
    if rule.limit is not None and unit_price > rule.limit:
        fund = (quantity * rule.limit).quantize(_CENT, rounding=ROUND_HALF_UP)
        if fund == 0:
            fund = _ZERO  # never a negative zero
        return OVER_LIMIT, fund, amount - fund
    return FUND, amount, _ZERO
