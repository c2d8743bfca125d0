"""Benchmark of the settlement rules on a large stay: `python bench/rules.py` from the repo root.

Generates (in a temporary folder) a valid 20,000-line `guangdong-intra` case — drugs,
treatment, consumables, rehab and devices; injury lines by flag and by diagnosis and
non-injury lines; catalogue hits and misses; price limits and device payment limits
exceeded or not; partial refunds — then prints, one line each:

    BENCH rules_settle_end_to_end_median <ms> ms (goal < 1500)
    BENCH rules_compute_median <ms> ms (goal < 300)
    BENCH rules_compute_to_bare_loop_ratio <x> x (goal < 10)

Exits non-zero only when it could not measure (e.g. `settle` failed: its stderr is printed).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CASE = REPO / "tests" / "cases" / "guangdong-sample-slip.json"
LINES = 20_000
RUNS = 5  # process starts
IN_PROCESS_RUNS = 15  # cheap, and this VM's timings are noisy: more samples, steadier median
CENT = Decimal("0.01")

_NAMES = {
    "drug": ["头孢呋辛钠注射液", "阿司匹林肠溶片", "氯化钠注射液", "注射用泮托拉唑钠", "那屈肝素钙注射液", "氟比洛芬酯注射液"],
    "treatment": ["床位费", "护理费", "CT 检查", "换药", "静脉输液", "血常规检查"],
    "consumable": ["接骨板", "接骨螺钉", "一次性使用输液器", "高分子夹板", "医用纱布"],
    "rehab": ["运动疗法", "作业疗法", "关节松动训练", "物理因子治疗"],
    "device": ["腋拐", "普通轮椅", "小腿假肢", "踝足矫形器"],
}
_WEIGHTS = {"drug": 40, "treatment": 30, "consumable": 15, "rehab": 10, "device": 5}


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def build_case(lines: int = LINES, seed: int = 20201117) -> dict:
    rng = random.Random(seed)
    categories = list(_WEIGHTS)
    catalogue = []
    prices: dict[str, tuple[str, Decimal]] = {}
    for index in range(400):
        category = categories[index % len(categories)]
        code = f"{category[0].upper()}{index:05d}"
        price = Decimal(rng.randint(50, 50_000)) / 100
        limit = max_pay = None
        if category == "device":
            if rng.random() < 0.7:
                max_pay = _money(price * Decimal(rng.choice(["0.8", "1", "1.2"])))
        elif rng.random() < 0.4:
            limit = _money(price * Decimal(rng.choice(["0.9", "1", "1.1"])))
        catalogue.append({"code": code, "name": rng.choice(_NAMES[category]), "category": category,
                          "price_limit": limit, "max_pay": max_pay})
        prices[code] = (category, price)
    codes = list(prices)

    items: list[dict] = []
    originals: list[tuple[int, str, Decimal, Decimal, str]] = []  # seq, code, remaining qty, price, category
    seq = 0
    while len(items) < lines:
        seq += 1
        if originals and rng.random() < 0.05:  # a partial refund of an earlier line
            pick = rng.randrange(len(originals))
            orig_seq, code, remaining, price, category = originals[pick]
            if remaining >= 1:
                qty = -Decimal(rng.randint(1, int(remaining)))
                originals[pick] = (orig_seq, code, remaining + qty, price, category)
                items.append({"seq": seq, "code": code, "name": "退费", "category": category, "quantity": str(qty),
                              "unit_price": str(price), "amount": _money(qty * price), "diagnosis": None,
                              "injury": None, "refund_of": orig_seq, "date": "2020-10-20"})
                continue
        if rng.random() < 0.1:  # outside the catalogue: self-pay
            category = rng.choices(categories, weights=list(_WEIGHTS.values()))[0]
            code, price = f"Z{rng.randint(0, 99):03d}", Decimal(rng.randint(100, 90_000)) / 100
            code = f"{category[0].upper()}Z{code}"
        else:
            code = rng.choice(codes)
            category, price = prices[code]
            if rng.random() < 0.2:  # priced above (or at) the limit
                price = (price * Decimal(rng.choice(["1.05", "1.3"]))).quantize(CENT)
        qty = Decimal(rng.choice(["1", "2", "3", "10", "0.5", "2.5"]))
        roll = rng.random()
        injury, diagnosis = (None, "S62.300") if roll < 0.7 else (None, "I10") if roll < 0.8 else \
            (False, None) if roll < 0.9 else (True, "I10")
        items.append({"seq": seq, "code": code, "name": rng.choice(_NAMES[category]), "category": category,
                      "quantity": str(qty), "unit_price": str(price), "amount": _money(qty * price),
                      "diagnosis": diagnosis, "injury": injury, "refund_of": None, "date": "2020-10-01"})
        originals.append((seq, code, qty, price, category))

    # Everything but the charges comes from the repository's Guangdong sample case.
    case = json.loads(SAMPLE_CASE.read_text(encoding="utf-8"))
    case["catalogue"] = catalogue
    case["items"] = items
    return case


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    sys.path.insert(0, str(REPO))
    from app.rules.case import InvalidCase, read_case_file
    from app.rules.settlement import compute

    with tempfile.TemporaryDirectory(prefix="wi-bench-") as folder:
        document = build_case()
        path = Path(folder) / "bench-case.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

        end_to_end = []
        for _ in range(RUNS):
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "app", "settle", str(path), "--json"], cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
            end_to_end.append(time.perf_counter() - start)
            if result.returncode != 0:
                print(f"settle exited {result.returncode}:\n{result.stderr}", file=sys.stderr)
                return 1

        try:
            case = read_case_file(path)
            compute(case)  # warm-up, and proof that it settles in-process too
        except InvalidCase as exc:
            print(f"the generated case is invalid:\n{exc.message}", file=sys.stderr)
            return 1
        amounts = [item["amount"] for item in document["items"]]

        def bare_loop() -> Decimal:
            total = Decimal(0)
            for amount in amounts:
                total += Decimal(amount)
            return total

        computes, bares = [], []
        for _ in range(IN_PROCESS_RUNS):
            start = time.perf_counter()
            compute(case)
            computes.append(time.perf_counter() - start)
            start = time.perf_counter()
            bare_loop()
            bares.append(time.perf_counter() - start)

    compute_ms = _median_ms(computes)
    bare_ms = _median_ms(bares)
    print(f"BENCH rules_settle_end_to_end_median {_median_ms(end_to_end):.1f} ms (goal < 1500)")
    print(f"BENCH rules_compute_median {compute_ms:.1f} ms (goal < 300)")
    print(f"BENCH rules_compute_to_bare_loop_ratio {compute_ms / bare_ms:.1f} x (goal < 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
