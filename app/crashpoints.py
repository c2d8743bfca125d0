"""Kill points for the crash-safety tests (`tests/crash/`, `docs/crash-safety.md`).

`crash_point(name)` does nothing unless the environment variable `WI_COUNTER_CRASH_AT` names
it; then the process kills itself on the spot (SIGKILL: no `finally`, no atexit, no flush —
what a power cut or the task manager does). `NAME#N` kills at the N-th passage (a later chunk).
Every point is listed in `CRASH_POINTS`, so the tests can walk each one.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

CRASH_ENV = "WI_COUNTER_CRASH_AT"

# The steps that go through the outbox, each with three points (`Outbox.call` / `_send`):
#   written  — the outbox entry committed, nothing sent yet;
#   answered — the centre's verified answer came back, not applied locally yet;
#   applied  — the answer and its local effect committed.
# `reversal` (冲正, 2601) is written by `Outbox._reverse` (a reviewer's, a conflict's, the resolver's
# voiding of an unsent call), `full_payment` is 全额垫付补登记 (2306).
OUTBOX_STEPS = ("admission", "admission_cancel", "fee_upload", "fee_cancel", "settlement", "cancellation",
                "claim_upload", "full_payment", "reversal")
OUTBOX_STAGES = ("written", "answered", "applied")
# Queued work (补传 of an admission made while the centre was down) sent by `Outbox.send_queued`:
# written = taken from the queue (`sent`, under our lease) and committed, nothing sent yet.
QUEUED_POINTS = tuple(f"queued.{stage}" for stage in OUTBOX_STAGES)
# Slip printing (`app.slips.commit_issue`): the archive PDF is written to a temporary file first.
SLIP_POINTS = (
    "slip.before_log_commit",  # temporary PDF written, print-log row flushed, not committed
    "slip.logged",  # print-log row committed, PDF not yet in its archive name
    "slip.archived",  # PDF in place
)

# Between a workflow's own writes, where the outbox's points do not reach.
WORKFLOW_POINTS = (
    "admission.stay_stored",  # 入院登记: the stay written, its outbox entry not yet
)
# Start-up recovery itself (`app.recovery`): killed while it finishes a crash's leftovers.
RECOVERY_POINTS = (
    "recovery.entry_resolved",  # `Outbox.resolve_open`: one open entry resolved, the next ones not yet (`#N`)
    "recovery.outbox_resolved",  # `recover_at_start`: the outbox resolved, voided admissions not flagged yet
)

CRASH_POINTS: tuple[str, ...] = tuple(
    f"{step}.{stage}" for step in OUTBOX_STEPS for stage in OUTBOX_STAGES
) + QUEUED_POINTS + SLIP_POINTS + WORKFLOW_POINTS + RECOVERY_POINTS
_KNOWN = frozenset(CRASH_POINTS)

_passes: dict[str, int] = {}
_lock = threading.Lock()


def _target() -> tuple[str, int] | None:
    raw = os.environ.get(CRASH_ENV, "").strip()
    if not raw:
        return None
    name, _, count = raw.partition("#")
    return name, int(count) if count.isdigit() else 1


def crash_point(name: str) -> None:
    """Die here (SIGKILL) when `WI_COUNTER_CRASH_AT` names this point; otherwise nothing."""
    if name not in _KNOWN:
        raise ValueError(f"unregistered crash point {name!r}")
    target = _target()
    if target is None or target[0] != name:
        return
    with _lock:
        _passes[name] = _passes.get(name, 0) + 1
        if _passes[name] < target[1]:
            return
    sys.stderr.write(f"CRASH_POINT {name}\n")
    sys.stderr.flush()
    if sys.platform == "win32":
        os._exit(137)  # no SIGKILL on Windows: the closest is an exit that skips all clean-up
    os.kill(os.getpid(), signal.SIGKILL)


_STEP_BY_OPERATION = {
    "admission": "admission",
    "admission_cancel": "admission_cancel",  # 撤销入院登记 (2404), issue 21 §3
    "fee_upload": "fee_upload",
    "fee_cancel": "fee_cancel",
    "settlement": "settlement",
    "settlement_cancel": "cancellation",
    "claim_upload": "claim_upload",
    "full_payment_registration": "full_payment",  # 全额垫付补登记 (2306)
    "reversal": "reversal",  # 冲正 (2601)
}


def outbox_point(operation: str, stage: str, *, queued: bool = False) -> None:
    """The kill point of `operation` at `stage` (written / answered / applied), if it has one;
    `queued`: a call sent from the queue (`queued.STAGE`, whatever its operation)."""
    if queued:
        crash_point(f"queued.{stage}")
        return
    step = _STEP_BY_OPERATION.get(operation)
    if step is not None:
        crash_point(f"{step}.{stage}")
