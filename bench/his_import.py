"""HIS import benchmark: a 20,000-line export into one stay (issue 6 item 2).

Writes the export with `app.demo.his_samples` (GBK CSV, and XLSX), then on a fresh SQLite
database (or the one named by --db, e.g. the test PostgreSQL server's) measures, median of 5 runs
each rolled back:
1. reading and checking the CSV (decode, every row checked, fingerprints);
2. importing it into a stay (match the codes, bulk insert, audit);
3. importing it again into the stay that has it (nothing added);
4. reading and checking the XLSX (for information: openpyxl is slower than the csv module).

    python bench/his_import.py [--db URL] [--lines N]

Output (one figure per line):
    BENCH his_csv_read_20000 250.0 ms (goal < 1000 with the import)
    BENCH his_import_20000 300.0 ms (goal < 1000 with the read)
    BENCH his_read_and_import_20000 550.0 ms (goal < 1000)
    BENCH his_reimport_20000 300.0 ms (goal < 1000)
    BENCH his_xlsx_read_20000 2500.0 ms (information)
Exit status 0 when measured, 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy.orm import Session  # noqa: E402

from app.db.engine import make_engine, make_session_factory  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.db.models import Care, Institution, Operator, Role, Stay, Worker  # noqa: E402
from app.operators import OperatorInfo  # noqa: E402
from app.demo import his_samples  # noqa: E402
from app.workflow.catalogue import seed_demo_catalogue  # noqa: E402
from app.workflow.his_import import ParsedHisFile, import_his_file, load_mapping, read_his_file  # noqa: E402
from tests.signed_in import signed_in  # noqa: E402

ROUNDS = 5


def _stay(session: Session) -> tuple[int, OperatorInfo]:
    hospital = Institution(code="HBENCH00001", name="基准医院", province="广东省", city="湛江市", city_code="440800",
                           level="三级甲等")
    clerk = Operator(login="bench-cashier", display_name="基准收款", role=Role.CASHIER, password_hash="-")
    worker = Worker(social_security_number="440802198503151236", name="张伟", sex="男", insured_province="广东省",
                    insured_city="湛江市", insured_city_code="440800")
    session.add_all([hospital, clerk, worker])
    session.flush()
    stay = Stay(worker_id=worker.id, institution_id=hospital.id, profile="local", care=Care.MEDICAL,
                admission_no="BENCH-0001", dept="骨科", admitted_on=dt.date(2026, 11, 1), created_by=clerk.id)
    session.add(stay)
    session.flush()
    return stay.id, signed_in(clerk)


def _median_ms(run: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    n = args.lines
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lines = his_samples.sample_lines(n, start=dt.date(2026, 11, 1), days=30)
        csv_path = his_samples.write_csv(root / "his.csv", lines)
        xlsx_path = his_samples.write_xlsx(root / "his.xlsx", lines)
        engine = make_engine(args.db or f"sqlite:///{root / 'bench.sqlite3'}")
        try:
            upgrade(engine)
            sessions = make_session_factory(engine)
            with sessions.begin() as session:
                seed_demo_catalogue(session)
                stay_id, clerk = _stay(session)
            mapping = load_mapping()
            parsed: list[ParsedHisFile] = []
            read_ms = _median_ms(lambda: parsed.append(read_his_file(csv_path, mapping)))

            def import_once(keep: bool = False) -> None:
                session = sessions()
                try:
                    import_his_file(session, stay_id, parsed[-1], clerk, "bench", "default")
                    if keep:
                        session.commit()
                finally:
                    session.rollback()
                    session.close()

            import_ms = _median_ms(import_once)
            import_once(keep=True)
            reimport_ms = _median_ms(import_once)
            start = time.perf_counter()  # once: it is for information only, and slow
            read_his_file(xlsx_path, mapping)
            xlsx_ms = (time.perf_counter() - start) * 1000
        except Exception as exc:  # noqa: BLE001 - report and exit 1: could not measure
            print(f"could not measure: {exc}", file=sys.stderr)
            return 1
        finally:
            engine.dispose()
    print(f"BENCH his_csv_read_{n} {read_ms:.1f} ms (goal < 1000 with the import)")
    print(f"BENCH his_import_{n} {import_ms:.1f} ms (goal < 1000 with the read)")
    print(f"BENCH his_read_and_import_{n} {read_ms + import_ms:.1f} ms (goal < 1000)")
    print(f"BENCH his_reimport_{n} {reimport_ms:.1f} ms (goal < 1000)")
    print(f"BENCH his_xlsx_read_{n} {xlsx_ms:.1f} ms (information)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
