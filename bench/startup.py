"""Startup benchmark: how long from launching the program until the main window is on screen.

Measures, for the demo counter with the cashier logged in automatically, the wall time from
just before `python -m app gui --demo` is started to the moment the program reports its main
window shown (`WI_COUNTER_SHOWN <time.time()>`, printed once the event loop has turned after
`show()`). This covers interpreter start, imports, opening the counter (settings, logging,
migration check), the login (one Argon2 verification) and building the main window.
Qt runs offscreen. One warm-up run (not counted), then 7 measured runs; prints the median.

    python bench/startup.py

Output, the project's BENCH convention (one figure per line, with its goal):
    BENCH startup_median 812.3 ms (goal < 2000)
    BENCH startup_min 790.1 ms (goal < 2000)
Exit status 0 when measured (whatever the figure), 1 when the program failed or printed no marker.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 7
WARM_UP = 1
GOAL_MS = 2000
MARKER = "WI_COUNTER_SHOWN"
TIMEOUT_S = 60


class BenchError(Exception):
    pass


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WI_COUNTER_DB_URL", None)
    env.update(
        WI_COUNTER_HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        WI_COUNTER_AUTOLOGIN="cashier",
        WI_COUNTER_EXIT_WHEN_SHOWN="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
    )
    return env


def _prepare(env: dict[str, str]) -> None:
    """Create the demo counter once (folders, migrated database, demo operators)."""
    code = "from app.bootstrap import open_counter; open_counter(demo=True).close()"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if done.returncode != 0:
        raise BenchError(f"could not set up the demo counter (exit {done.returncode}):\n{done.stderr}")


def _one_run(env: dict[str, str]) -> float:
    """Milliseconds from just before the launch to the window-shown marker."""
    started = time.time()
    child = subprocess.Popen(
        [sys.executable, "-m", "app", "gui", "--demo"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = child.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise BenchError(f"the program did not exit within {TIMEOUT_S} s:\n{err}") from None
    shown = [line.split()[1] for line in out.splitlines() if line.startswith(MARKER + " ")]
    if child.returncode != 0 or not shown:
        raise BenchError(
            f"the program exited with {child.returncode} and printed {'no' if not shown else 'a'} "
            f"{MARKER} marker.\nstdout:\n{out}\nstderr:\n{err}"
        )
    return (float(shown[0]) - started) * 1000


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="wi-counter-bench-") as folder:
        env = _environment(Path(folder))
        try:
            _prepare(env)
            for _ in range(WARM_UP):
                _one_run(env)
            timings = [_one_run(env) for _ in range(RUNS)]
        except BenchError as exc:
            print(f"bench/startup.py: {exc}", file=sys.stderr)
            return 1
    print(f"BENCH startup_median {statistics.median(timings):.1f} ms (goal < {GOAL_MS})")
    print(f"BENCH startup_min {min(timings):.1f} ms (goal < {GOAL_MS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
