"""Monthly claim benchmark (issue 8): a month of 2,000 settlements with 1,000,000 charge lines.

Sets up its own counter (SQLite in a temporary folder, or the database named by --db, which must
be empty), in a child process so that the set-up's memory is not counted, then measures in this
process:
1. building the claim (`app.claims.service.build_claim`: membership, entries, totals, audit,
   commit), and the forms' content read back (`claim_forms`);
2. the exports: the three forms as PDF (`printing.claim_forms`) and as XLSX (`app.claims.xlsx`);
3. the peak memory of this process (resident set, from the kernel);
4. a bare SQL aggregate over the same rows (the month's settlements grouped by 参保地 and 就医类别,
   as 附件9 groups them), and the ratio of the build to it (both the median of 5 runs after one
   that warms the caches; each build starts from no claim).

    python bench/claims.py [--settlements N] [--lines-per-settlement M] [--db URL]

Output (one figure per line):
    BENCH claims_build 20.0 ms (goal < 15000 with the exports)
    BENCH claims_forms_content 150.0 ms (goal < 15000 with the build and exports)
    BENCH claims_export_pdf 2500.0 ms (goal < 15000 with the build)
    BENCH claims_export_xlsx 900.0 ms (goal < 15000 with the build)
    BENCH claims_build_and_exports 3.9 s (goal < 15)
    BENCH claims_peak_memory 180.0 MB (goal < 600)
    BENCH claims_sql_aggregate 12.0 ms (information)
    BENCH claims_build_to_sql_ratio 3.1 x (goal < 2)
Exit status 0 when measured, 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MONTH = "2026-11"
TODAY = dt.date(2026, 12, 3)
PLACES = [("广东省", "湛江市", "440800"), ("广东省", "广州市", "440100"), ("广东省", "深圳市", "440300"),
          ("广东省", "佛山市", "440600"), ("吉林省", "长春市", "220100"), ("北京市", "北京市", "110100"),
          ("宁夏回族自治区", "银川市", "640100")]
CARES = ["medical", "medical", "medical", "rehab", "device"]
CATEGORIES = ["drug", "treatment", "consumable", "rehab", "device"]
BUCKETS = ["fund", "over_limit", "self_pay", "non_injury"]
CHUNK = 20_000
ROUNDS = 5


def _use_memory_keyring() -> None:
    import keyring

    from bench.centre import _MemoryKeyring

    keyring.set_keyring(_MemoryKeyring())


def _open(home: Path, db_url: str):  # type: ignore[no-untyped-def]
    os.environ["WI_COUNTER_HOME"] = str(home)
    _use_memory_keyring()
    from app.bootstrap import open_counter

    return open_counter(db_url=db_url)


def _id_number(serial: int) -> str:
    from app.idnumber import check_character

    born = dt.date(1960, 1, 1) + dt.timedelta(days=serial)  # one birth date each: unique numbers
    first17 = f"440802{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


def set_up(home: Path, db_url: str, settlements: int, lines_per_settlement: int) -> None:
    """The month's settled stays, written through SQLAlchemy Core in chunks (memory stays flat)."""
    from sqlalchemy import insert

    from app.db.models import (
        CatalogueItem,
        ChargeLine,
        Institution,
        Operator,
        Role,
        Settlement,
        SettlementLine,
        SettlementMatrixCell,
        Stay,
        Worker,
        utc_now,
    )

    ctx = _open(home, db_url)
    cent = Decimal("0.01")
    with ctx.transaction() as session:
        session.add(Institution(code="H44080100001", name="湛江市第一人民医院", province="广东省", city="湛江市",
                                city_code="440800", level="三级甲等"))
        session.add(Operator(login="bench-reviewer", display_name="基准审核", role=Role.REVIEWER, password_hash="-"))
        session.add(CatalogueItem(code="F0301", name="腋拐", category="device", unit="副", max_pay=Decimal("120.00"),
                                  per_day=False, min_years=2, version=1))
    now = utc_now()
    first = dt.date(2026, 11, 1)
    with ctx.engine.begin() as connection:
        connection.execute(insert(Worker.__table__), [
            {"social_security_number": _id_number(n), "name": f"工友{n}", "sex": "男", "category": "在职",
             "insured_province": PLACES[n % len(PLACES)][0], "insured_city": PLACES[n % len(PLACES)][1],
             "insured_city_code": PLACES[n % len(PLACES)][2], "insurance_active": True, "contribution_ok": True,
             "updated_at": now} for n in range(settlements)])
        connection.execute(insert(Stay.__table__), [
            {"worker_id": n + 1, "institution_id": 1, "profile": "guangdong-intra", "care": CARES[n % len(CARES)],
             "admission_no": f"ZY{n:06d}", "registration_no": f"REG{n:08d}", "dept": "骨科",
             "admitted_on": first - dt.timedelta(days=n % 40), "discharged_on": first + dt.timedelta(days=n % 30),
             "emergency": False, "third_party_liability": False, "status": "settled", "registered_offline": False,
             "identified_by": "card", "created_by": 1, "created_at": now, "version": 1} for n in range(settlements)])
    line_id = 0
    for start in range(0, settlements, 200):
        lines, settled, cells, settled_lines = [], [], [], []
        for n in range(start, min(start + 200, settlements)):
            stay_id = n + 1
            day = first + dt.timedelta(days=n % 30)
            total = fund = Decimal("0.00")
            matrix: dict[tuple[str, str], Decimal] = {}
            for seq in range(1, lines_per_settlement + 1):
                line_id += 1
                category = "device" if CARES[n % len(CARES)] == "device" and seq == 1 else CATEGORIES[seq % 4]
                amount = (Decimal(seq % 97 + 1) * Decimal("1.50")).quantize(cent)
                bucket = BUCKETS[0] if seq % 10 else BUCKETS[seq // 10 % 4]
                line_fund = amount if bucket == "fund" else Decimal("0.00")
                lines.append({"id": line_id, "stay_id": stay_id, "seq": seq, "his_code": "F0301" if category == "device"
                              else f"H{seq % 300:05d}", "code": "F0301" if category == "device" else None,
                              "name": "腋拐" if category == "device" else f"项目{seq % 300}", "category": category,
                              "quantity_e4": Decimal(1), "unit_price_e4": amount, "amount_fen": amount,
                              "charged_on": day, "source": "his", "created_by": 1, "created_at": now,
                              "patient_informed": False, "uploaded_at": now})
                settled_lines.append({"settlement_id": stay_id, "charge_line_id": line_id, "bucket": bucket,
                                      "category": category, "amount_fen": amount, "fund_fen": line_fund,
                                      "personal_fen": amount - line_fund, "reason": "基准"})
                total += amount
                fund += line_fund
                matrix[(bucket, category)] = matrix.get((bucket, category), Decimal("0.00")) + amount
            settled.append({"id": stay_id, "stay_id": stay_id, "kind": "settlement",
                            "centre_settlement_id": f"JS{n:010d}", "msgid": f"H44080100001{day:%Y%m%d}1030{n:06d}",
                            "settlement_kind": "省内异地就医", "settled_on": day, "settled_at": now, "total_fen": total,
                            "fund_total_fen": fund, "personal_total_fen": total - fund, "operator_id": 1, "created_at": now})
            cells.extend({"settlement_id": stay_id, "bucket": b, "category": c,
                          "amount_fen": matrix.get((b, c), Decimal("0.00"))} for b in BUCKETS for c in CATEGORIES)
        with ctx.engine.begin() as connection:
            connection.execute(insert(Settlement.__table__), settled)
            for part in range(0, len(lines), CHUNK):
                connection.execute(insert(ChargeLine.__table__), lines[part:part + CHUNK])
                connection.execute(insert(SettlementLine.__table__), settled_lines[part:part + CHUNK])
            connection.execute(insert(SettlementMatrixCell.__table__), cells)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.begin() as connection:
            for table in ("worker", "stay", "charge_line", "settlement"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            connection.exec_driver_sql("ANALYZE")
    ctx.close()


BARE_AGGREGATE = """
SELECT w.insured_province, w.insured_city, st.care, count(*), sum(s.total_fen), sum(s.fund_total_fen),
       sum(s.personal_total_fen)
FROM settlement s JOIN stay st ON st.id = s.stay_id JOIN worker w ON w.id = st.worker_id
WHERE s.kind = 'settlement' AND s.settled_on >= :first AND s.settled_on <= :last
GROUP BY w.insured_province, w.insured_city, st.care
"""


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


def measure(home: Path, db_url: str, out_dir: Path) -> int:
    from sqlalchemy import delete, select, text

    from app.claims.service import build_claim, claim_forms
    from app.claims.xlsx import workbook_bytes
    from app.db.models import ClaimEntry, MonthlyClaim, Operator
    from tests.signed_in import signed_in
    from printing.claim_forms import render_pdf

    ctx = _open(home, db_url)
    with ctx.transaction() as session:
        record = session.scalars(select(Operator)).one()
        reviewer = signed_in(record)
    builds: list[float] = []
    contents: list[float] = []
    forms = None
    for round_no in range(ROUNDS + 1):  # the first round warms the caches and is not counted
        with ctx.transaction() as session:  # each round builds the claim from nothing
            session.execute(delete(ClaimEntry))
            session.execute(delete(MonthlyClaim))
        started = time.perf_counter()
        result = build_claim(ctx, MONTH, reviewer, today=TODAY)
        built = time.perf_counter()
        with ctx.transaction() as session:
            forms = claim_forms(session, result.claim.claim_id)
        if round_no:
            builds.append(built - started)
            contents.append(time.perf_counter() - built)
    assert forms is not None
    if result.claim.person_times != len(forms.details) + len(forms.devices):
        print("claims bench: the forms do not list every settlement", file=sys.stderr)
        return 1
    started = time.perf_counter()
    for form in ("9", "9-1", "9-2"):
        (out_dir / f"{form}.pdf").write_bytes(render_pdf(forms, form))
    pdf = time.perf_counter() - started
    started = time.perf_counter()
    for form in ("9", "9-1", "9-2"):
        (out_dir / f"{form}.xlsx").write_bytes(workbook_bytes(forms, form))
    xlsx = time.perf_counter() - started
    aggregates: list[float] = []
    rows = []
    for _ in range(ROUNDS + 1):
        started = time.perf_counter()
        with ctx.engine.connect() as connection:
            rows = connection.execute(text(BARE_AGGREGATE), {"first": dt.date(2026, 11, 1),
                                                             "last": dt.date(2026, 11, 30)}).all()
        aggregates.append(time.perf_counter() - started)
    if sum(r[3] for r in rows) != result.claim.person_times:
        print("claims bench: the bare aggregate and the claim disagree", file=sys.stderr)
        return 1
    ctx.close()
    build = statistics.median(builds)
    content = statistics.median(contents)
    aggregate = statistics.median(aggregates[1:])
    print(f"BENCH claims_build {build * 1000:.1f} ms (goal < 15000 with the exports)")
    print(f"BENCH claims_forms_content {content * 1000:.1f} ms (goal < 15000 with the build and exports)")
    print(f"BENCH claims_export_pdf {pdf * 1000:.1f} ms (goal < 15000 with the build)")
    print(f"BENCH claims_export_xlsx {xlsx * 1000:.1f} ms (goal < 15000 with the build)")
    print(f"BENCH claims_build_and_exports {build + content + pdf + xlsx:.1f} s (goal < 15)")
    print(f"BENCH claims_peak_memory {_peak_rss_mb():.1f} MB (goal < 600)")
    print(f"BENCH claims_sql_aggregate {aggregate * 1000:.1f} ms (information)")
    print(f"BENCH claims_build_to_sql_ratio {build / aggregate:.1f} x (goal < 2)")  # issue 25
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settlements", type=int, default=2_000)
    parser.add_argument("--lines-per-settlement", type=int, default=500)
    parser.add_argument("--db", help="an empty database (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wi-bench-claims-") as folder:
        home = Path(folder) / "home"
        db_url = args.db or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        started = time.perf_counter()
        setup = multiprocessing.get_context("spawn").Process(
            target=set_up, args=(home, db_url, args.settlements, args.lines_per_settlement))
        setup.start()
        setup.join()
        if setup.exitcode != 0:
            print("claims bench: the set-up failed", file=sys.stderr)
            return 1
        print(f"# set-up: {args.settlements} settlements, {args.settlements * args.lines_per_settlement} charge "
              f"lines in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        out = Path(folder) / "forms"
        out.mkdir()
        return measure(home, db_url, out)


if __name__ == "__main__":
    sys.exit(main())
