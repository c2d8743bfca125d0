"""What every fuzz target shares: the hypothesis profiles, the one rule each case is judged by,
and the count of cases run per target (printed at the end of the run by conftest.py).

The rule (issue 9 item 5, docs/hostile-input.md): whatever a parser is handed, it returns a
valid result or raises its own typed error whose `message` is Chinese. Any other exception —
or a typed error without a Chinese message — is "unexpected" and fails the test.

Profiles (`HYPOTHESIS_PROFILE`): `fuzz-ci` (the default) runs a fixed number of cases per
test, derandomized, so CI runs the same cases every time; `fuzz-long` runs
`WI_COUNTER_FUZZ_FACTOR` (default 50) times as many, with fresh randomness each run.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

from app.errors import WiCounterError

T = TypeVar("T")

CI_PROFILE = "fuzz-ci"
LONG_PROFILE = "fuzz-long"
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.function_scoped_fixture]
settings.register_profile(CI_PROFILE, derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=_QUIET)
settings.register_profile(LONG_PROFILE, derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=_QUIET)

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# target → outcome ("valid", "refused", "unexpected") → cases
COUNTS: dict[str, Counter[str]] = {}
TARGETS = ("card_reply", "his_import", "case_file", "centre_reply")


def profile_name() -> str:
    return LONG_PROFILE if os.environ.get("HYPOTHESIS_PROFILE") == LONG_PROFILE else CI_PROFILE


def fuzz_settings(examples: int) -> settings:
    """`examples` cases in CI; many more under the fuzz-long profile."""
    name = profile_name()
    if name == LONG_PROFILE:
        examples *= int(os.environ.get("WI_COUNTER_FUZZ_FACTOR", "50"))
    return settings(settings.get_profile(name), max_examples=examples)


def record(target: str, outcome: str) -> None:
    COUNTS.setdefault(target, Counter())[outcome] += 1


def judge(target: str, call: Callable[[], T], expected: type[WiCounterError] | tuple[type[WiCounterError], ...]
          ) -> T | WiCounterError:
    """Run one case: its result, or the typed error it raised (message checked to be Chinese).

    Anything else is counted as unexpected and re-raised, so hypothesis shrinks and reports it."""
    try:
        result = call()
    except expected as error:
        if not isinstance(error.message, str) or not CJK.search(error.message):
            record(target, "unexpected")
            raise AssertionError(f"{type(error).__name__} without a Chinese message: {error.message!r}") from error
        record(target, "refused")
        return error
    except BaseException:
        record(target, "unexpected")
        raise
    record(target, "valid")
    return result


def unexpected(target: str, why: str) -> AssertionError:
    """A case that ended in the expected way on the surface but broke a rule underneath."""
    record(target, "unexpected")
    return AssertionError(why)


def summary_lines() -> list[str]:
    lines = []
    for target in sorted(COUNTS, key=lambda t: (TARGETS.index(t) if t in TARGETS else len(TARGETS), t)):
        counts = COUNTS[target]
        run = sum(counts.values())
        lines.append(f"FUZZ {target} {run} cases ({counts['valid']} valid, {counts['refused']} refused), "
                     f"{counts['unexpected']} unexpected")
    return lines
