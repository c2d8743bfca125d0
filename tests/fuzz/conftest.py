"""The fuzz targets' case counts, printed after every run that collected them:

    FUZZ card_reply 1000 cases (12 valid, 988 refused), 0 unexpected

Under parallel workers (pytest-xdist, as scripts/test.sh runs) the cases are counted in the
worker that ran them: each fuzz test's report carries its counts back to the controlling process,
which adds them up and prints the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator

import pytest

from tests.fuzz.support import COUNTS, profile_name, summary_lines

_COUNTS_PROPERTY = "fuzz_counts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    before = {target: Counter(counts) for target, counts in COUNTS.items()}
    outcome = yield
    if call.when != "call" or not hasattr(item.config, "workerinput"):
        return
    delta = {target: dict(counts - before.get(target, Counter())) for target, counts in COUNTS.items()}
    delta = {target: counts for target, counts in delta.items() if counts}
    if delta:
        outcome.get_result().user_properties.append((_COUNTS_PROPERTY, delta))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # In the controlling process, the counts the workers sent back (nothing to add without workers).
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == _COUNTS_PROPERTY and isinstance(value, dict):
            for target, counts in value.items():
                COUNTS.setdefault(target, Counter()).update(counts)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS or hasattr(terminalreporter.config, "workerinput"):
        return
    terminalreporter.write_line(f"hostile input (hypothesis profile {profile_name()}):")
    for line in summary_lines():
        terminalreporter.write_line(line)
