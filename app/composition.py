"""The composition root of the counter's core: where the layers of `app/` are plugged together.

The centre client (`app.centre.client.open_centre`) knows nothing of the services above it; this is
the one place that hands it the local effect of every applied call (the workflow's appliers and the
claims' dispute applier), so every client the program opens — the clerk's, the status bar's
resolver, the command line's — records what an applied call means locally. The window and the
command line open their clients here. It is also the one place that hands a demo counter the
sandbox centre's public demo key (the core does not import `app.sandbox`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from app.centre.client import CentreClient, open_centre
from app.centre.ecard import identity_from_person
from app.centre.gateway import Operation, PersonKey, Reachability
from app.centre.outbox import Applier
from app.claims.deductions import apply_dispute
from app.sandbox.seed import institution_seeds
from app.workflow.appliers import (
    apply_admission,
    apply_admission_cancel,
    apply_fee_cancel,
    apply_fee_upload,
    apply_full_payment_registration,
    apply_reversal,
    apply_settlement,
    apply_settlement_cancel,
)
from app.workflow.rehab_plan import apply_rehab_plan

if TYPE_CHECKING:
    from app.bootstrap import CounterContext
    from app.card_identity import CardIdentity
    from app.operators import OperatorInfo


def workflow_appliers(counter_name: str) -> dict[Operation, Applier]:
    """The appliers every centre client of the program carries (`open_counter_centre`); those that
    record who acted are told this counter's name."""
    by_counter: dict[Operation, Callable[..., None]] = {
        Operation.ADMISSION: apply_admission, Operation.ADMISSION_CANCEL: apply_admission_cancel,
        Operation.SETTLEMENT: apply_settlement, Operation.SETTLEMENT_CANCEL: apply_settlement_cancel,
        Operation.REVERSAL: apply_reversal, Operation.FULL_PAYMENT_REGISTRATION: apply_full_payment_registration,
        Operation.DEDUCTION_DISPUTE: apply_dispute, Operation.REHAB_PLAN: apply_rehab_plan,
    }
    appliers: dict[Operation, Applier] = {operation: partial(apply, counter_name=counter_name)
                                          for operation, apply in by_counter.items()}
    appliers.update({Operation.FEE_UPLOAD: apply_fee_upload, Operation.FEE_CANCEL: apply_fee_cancel})
    return appliers


def demo_signing_key(institution_code: str) -> str | None:
    """The sandbox centre's public demo key of an institution (a demo counter without a keyring)."""
    return next((s.demo_key for s in institution_seeds() if s.code == institution_code), None)


def open_counter_centre(ctx: CounterContext, operator: tuple[str, str] | None = None, *,
                        reachability: Reachability | None = None) -> CentreClient:
    """The centre client of this counter with the program's appliers. `operator` = (login, name) of
    the clerk, else the system."""
    return open_centre(ctx, operator, appliers=workflow_appliers(ctx.counter_name), reachability=reachability,
                       demo_key=demo_signing_key)


def open_bare_centre(ctx: CounterContext) -> CentreClient:
    """A centre client without local effects (a check that only reads the centre), as the system."""
    return open_centre(ctx, appliers={}, demo_key=demo_signing_key)


def open_workflow_centre(ctx: CounterContext, actor: OperatorInfo | None) -> CentreClient:
    """The centre client for `actor` (None: the system) with the program's appliers."""
    operator = (actor.login, actor.display_name) if actor is not None else None
    return open_counter_centre(ctx, operator)


def ecard_lookup(ctx: CounterContext, operator: tuple[str, str]) -> Callable[[str], CardIdentity]:
    """A lookup for the 读卡 page's scan field: token → the holder, asked of the centre.

    Runs on a worker thread (the page's `Operation`); each call opens and closes its own client
    so no HTTP connection is shared between threads.
    """

    def lookup(token: str) -> CardIdentity:
        client = open_counter_centre(ctx, operator)
        try:
            return identity_from_person(client.find_person(PersonKey.ECARD_TOKEN, token))
        finally:
            client.close()

    return lookup
