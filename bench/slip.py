"""Benchmark of the settlement slip: `python bench/slip.py` from the repo root.

Renders the official sample's slip (`tests/cases/guangdong-sample-slip.json`, both copies
on A4) and prints, one line each:

    BENCH slip_first_render_with_font_loading_median <ms> ms (goal < 1000)
    BENCH slip_render_median <ms> ms (goal < 150)

The first figure is measured in fresh processes (the font is registered once per process):
importing the slip template (reportlab), loading the 5 MB CJK font and rendering the first
slip. The second is the median of later renders in one process. Exits non-zero only when it
could not measure.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CASE = REPO / "tests" / "cases" / "guangdong-sample-slip.json"
FRESH_PROCESSES = 5
RENDERS = 40

_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from app.rules.case import read_case_file
from app.rules.settlement import compute
from app.slips import slip_from_case
case = read_case_file(Path({case!r}))
data = slip_from_case(case, compute(case))
start = time.perf_counter()
from printing.templates import render_slip
pdf = render_slip(data)
first = time.perf_counter() - start
assert pdf.startswith(b"%PDF")
times = []
for _ in range({renders}):
    start = time.perf_counter()
    render_slip(data)
    times.append(time.perf_counter() - start)
print(first, *times)
"""


def main() -> int:
    code = _CHILD.format(repo=str(REPO), case=str(SAMPLE_CASE), renders=RENDERS)
    firsts: list[float] = []
    later: list[float] = []
    for _ in range(FRESH_PROCESSES):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        first, *rest = (float(value) for value in run.stdout.split())
        firsts.append(first)
        later.extend(rest)
    print(f"BENCH slip_first_render_with_font_loading_median {statistics.median(firsts) * 1000:.1f} ms (goal < 1000)")
    print(f"BENCH slip_render_median {statistics.median(later) * 1000:.1f} ms (goal < 150)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
