"""The counter's way to the centre: reads go straight to the `Centre`, every state-changing
call through the outbox. `open_centre(ctx, appliers=…)` builds it from the counter's settings, its
institution and the signing key in the keyring (the program's clients: `app.composition`).

Start-up rule (issue 5): before the counter takes new work, `resolve_open()` settles every
open outbox entry; `Outbox.call` also refuses new work while one stays unresolved.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from app.centre import plausibility, wire
from app.centre.calllog import DatabaseCallLog
from app.centre.gateway import (
    Admission,
    AdmissionCancellation,
    AdmissionCancelRequest,
    AdmissionRequest,
    CataloguePage,
    Centre,
    CentreRefused,
    CentreUnavailable,
    ClaimChunk,
    ClaimReceipt,
    ClaimStatusReport,
    DailyDetails,
    AuditAnchor,
    DisputeReceipt,
    DisputeRequest,
    DailyTotals,
    DeviceNotice,
    FeeCancelReceipt,
    FeeCancelRequest,
    FeeLine,
    FeeUpload,
    FeeUploadReceipt,
    FullPaymentRegistration,
    FullPaymentRegistrationRequest,
    Operation,
    OutcomeUnknown,
    Person,
    PersonKey,
    Reachability,
    RehabPlanReceipt,
    RehabPlanRequest,
    ReversalResult,
    SettlementCancellation,
    SettlementCancelRequest,
    SettlementFigures,
    SettlementRequest,
    from_json,
)
from app.centre.json_adapter import JsonCentre
from app.centre.outbox import Applier, EntryView, Outbox, Resolution
from app.db.models import Institution, OutboxEntry, OutboxState
from app.errors import ConfigurationError

if TYPE_CHECKING:
    from app.bootstrap import CounterContext

log = logging.getLogger(__name__)

R = TypeVar("R")

SYSTEM_OPERATOR = ("system", "系统（自动处理）")
# Fee-upload calls in flight at once: a WAN's round trips overlap (issue 25); small, so that the
# centre is not flooded and the counter's database writes (two per call) do not queue long.
UPLOAD_PARALLEL = 6

T = TypeVar("T")


def run_bounded(items: Sequence[T], work: Callable[[T], R], parallel: int,
                landed: Callable[[T, R], None] | None = None) -> list[R]:
    """`work(item)` for every item, at most `parallel` at once; results in the items' order.

    `landed(item, result)` runs on the calling thread as each finishes. On the first failure no
    further item is started; those in flight finish, then the failure is raised (an unknown outcome
    first: the clerk must hear that a call may have been applied)."""
    if parallel <= 1 or len(items) <= 1:
        results = []
        for item in items:
            result = work(item)
            if landed is not None:
                landed(item, result)
            results.append(result)
        return results
    results_by_index: dict[int, R] = {}
    failures: list[BaseException] = []
    queue = iter(enumerate(items))
    with ThreadPoolExecutor(max_workers=min(parallel, len(items)), thread_name_prefix="centre-upload") as pool:
        running: dict[Future[R], tuple[int, T]] = {}

        def start_next() -> None:
            for index, item in queue:
                running[pool.submit(work, item)] = (index, item)
                return

        for _ in range(min(parallel, len(items))):
            start_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                index, item = running.pop(future)
                error = future.exception()
                if error is not None:
                    failures.append(error)
                    continue
                results_by_index[index] = future.result()
                if landed is not None:
                    landed(item, results_by_index[index])
                if not failures:
                    start_next()
    if failures:
        raise min(failures, key=_failure_rank)
    return [results_by_index[index] for index in range(len(items))]


def _failure_rank(error: BaseException) -> int:
    if isinstance(error, OutcomeUnknown):
        return 0
    if isinstance(error, CentreRefused):
        return 1
    if isinstance(error, CentreUnavailable):
        return 2
    return 3


@dataclass(frozen=True)
class Reconciliation:
    """One business day: the centre's totals, and which settlement / cancellation msgids only one
    side has (both empty: the books agree)."""

    day: dt.date
    centre: DailyTotals
    counter_count: int
    only_at_centre: tuple[str, ...]
    only_here: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return not self.only_at_centre and not self.only_here and self.counter_count == self.centre.settlements.count \
            + self.centre.cancellations.count


@dataclass(frozen=True)
class CentreStatus:
    url: str
    reachable: bool | None
    since: dt.datetime | None
    error: str
    open_entries: int
    queued_entries: int = 0  # 补登记 waiting for the link


class CentreClient:
    def __init__(self, centre: Centre, outbox: Outbox, reachability: Reachability, url: str = "") -> None:
        self.centre = centre
        self.outbox = outbox
        self.reachability = reachability
        self.url = url

    def close(self) -> None:
        close = getattr(self.centre, "close", None)
        if callable(close):
            close()

    # --- the link ---------------------------------------------------------------------------

    def check(self) -> CentreStatus:
        """Probe the centre now (short timeout) and report the link and the outbox."""
        try:
            self.centre.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"; recorded below
            message = getattr(exc, "message", str(exc))
            self.reachability.mark(False, message)
        return self.status()

    def status(self) -> CentreStatus:
        return CentreStatus(self.url, self.reachability.reachable, self.reachability.since,
                            self.reachability.last_error, len(self.outbox.open_entries()),
                            len(self.outbox.queued_entries()))

    def resolve_open(self) -> list[Resolution]:
        return self.outbox.resolve_open()

    def open_entries(self) -> list[EntryView]:
        return self.outbox.open_entries()

    # --- reads ------------------------------------------------------------------------------

    def find_person(self, key: PersonKey, value: str) -> Person:
        return self.centre.find_person(key, value)

    def download_catalogue(self, since_version: int = 0, page: int = 1, page_size: int = 500) -> CataloguePage:
        return self.centre.download_catalogue(since_version, page, page_size)

    def find_notice(self, notice_no: str, social_security_number: str | None = None) -> DeviceNotice:
        """配置费用核付通知单 (`001 §34`): read directly, checked before a device fitting."""
        return self.centre.find_notice(notice_no, social_security_number)

    def pre_settle(self, request: SettlementRequest) -> SettlementFigures:
        return plausibility.checked(self.centre.pre_settle(request))

    def claim_status(self, claim_no: str) -> ClaimStatusReport:
        return self.centre.claim_status(claim_no)

    def daily_totals(self, day: dt.date, audit_head: AuditAnchor | None = None) -> DailyTotals:
        return self.centre.daily_totals(day, audit_head)

    def daily_details(self, day: dt.date, page: int = 1, page_size: int = 500) -> DailyDetails:
        return self.centre.daily_details(day, page, page_size)

    # --- state-changing, through the outbox -------------------------------------------------------

    def _through_outbox(self, operation: Operation, request: object, send: Callable[[str], R],
                        stay_id: int | None, operator_id: int | None) -> R:
        try:
            return self.outbox.call(operation, request, send, stay_id=stay_id, operator_id=operator_id)
        except CentreRefused as exc:
            if exc.code != wire.ErrorCode.NOT_SIGNED_IN.value:
                raise
            # The session lapsed (e.g. the centre restarted): the refusal applied nothing; sign in
            # again and send once more under a new msgid.
            self.centre.sign_in()
            return self.outbox.call(operation, request, send, stay_id=stay_id, operator_id=operator_id)

    def register_admission(self, request: AdmissionRequest, *, stay_id: int | None = None,
                           operator_id: int | None = None) -> Admission:
        return self._through_outbox(Operation.ADMISSION, request,
                                    lambda m: self.centre.register_admission(m, request), stay_id, operator_id)

    def cancel_admission(self, request: AdmissionCancelRequest, *, stay_id: int | None = None,
                         operator_id: int | None = None) -> AdmissionCancellation:
        return self._through_outbox(Operation.ADMISSION_CANCEL, request,
                                    lambda m: self.centre.cancel_admission(m, request), stay_id, operator_id)

    def upload_fees(self, registration_no: str, lines: Sequence[FeeLine], *, insured_region: str = "",
                    stay_id: int | None = None, operator_id: int | None = None,
                    parallel: int = UPLOAD_PARALLEL,
                    progress: Callable[[int], None] | None = None) -> list[FeeUploadReceipt]:
        """Upload a stay's lines, at most 100 a call, each call through the outbox with its own msgid;
        up to `parallel` calls in flight at once (a WAN's round trips overlap, issue 25). Returns the
        receipts in the order of the chunks; `progress(lines_done)` after each chunk lands.

        The centre takes chunks in any order, but a refund only after its original: refunds whose
        original goes up in this same upload follow in a second wave. On the first failure no further
        chunk is started; the ones in flight finish (each settled by the outbox), then the failure
        is raised — an unknown outcome before a refusal before an unreachable centre. A line already
        uploaded with the same content is accepted again without change, so an interrupted upload is
        finished by calling this again with the lines not yet marked uploaded."""
        size = wire.MAX_FEE_LINES_PER_CALL
        here = {line.seq for line in lines}
        later = [line for line in lines if line.refund_of is not None and line.refund_of in here]
        later_seqs = {line.seq for line in later}
        first = [line for line in lines if line.seq not in later_seqs]
        receipts: list[FeeUploadReceipt] = []
        done = 0

        def landed(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done)

        for wave in (first, later):
            uploads = [FeeUpload(registration_no, tuple(wave[start:start + size]), insured_region)
                       for start in range(0, len(wave), size)]
            receipts.extend(run_bounded(
                uploads,
                lambda upload: self._through_outbox(
                    Operation.FEE_UPLOAD, upload, lambda m: self.centre.upload_fees(m, upload), stay_id, operator_id),
                parallel,
                lambda upload, _receipt: landed(len(upload.lines)),
            ))
        return receipts

    def cancel_fees(self, request: FeeCancelRequest, *, stay_id: int | None = None,
                    operator_id: int | None = None) -> FeeCancelReceipt:
        return self._through_outbox(Operation.FEE_CANCEL, request,
                                    lambda m: self.centre.cancel_fees(m, request), stay_id, operator_id)

    def settle(self, request: SettlementRequest, *, stay_id: int | None = None,
               operator_id: int | None = None) -> SettlementFigures:
        return self._through_outbox(Operation.SETTLEMENT, request,
                                    lambda m: self.centre.settle(m, request), stay_id, operator_id)

    def cancel_settlement(self, request: SettlementCancelRequest, *, stay_id: int | None = None,
                          operator_id: int | None = None) -> SettlementCancellation:
        return self._through_outbox(Operation.SETTLEMENT_CANCEL, request,
                                    lambda m: self.centre.cancel_settlement(m, request), stay_id, operator_id)

    def register_full_payment(self, request: FullPaymentRegistrationRequest, *, stay_id: int | None = None,
                              operator_id: int | None = None) -> FullPaymentRegistration:
        """补登记 (`003 §17`): the stay paid in full goes to the centre as such; nothing is settled."""
        return self._through_outbox(Operation.FULL_PAYMENT_REGISTRATION, request,
                                    lambda m: self.centre.register_full_payment(m, request), stay_id, operator_id)

    def submit_dispute(self, request: DisputeRequest, *, operator_id: int | None = None) -> DisputeReceipt:
        """异议 (`003 §20`): the dispute of one deduction, with its evidence's hashes, to the agency."""
        return self._through_outbox(Operation.DEDUCTION_DISPUTE, request,
                                    lambda m: self.centre.submit_dispute(m, request), None, operator_id)

    def upload_rehab_plan(self, request: RehabPlanRequest, *, stay_id: int | None = None,
                          operator_id: int | None = None) -> RehabPlanReceipt:
        """康复方案 (`000 §30`): up before a rehab stay's discharge settlement."""
        return self._through_outbox(Operation.REHAB_PLAN, request,
                                    lambda m: self.centre.upload_rehab_plan(m, request), stay_id, operator_id)

    def upload_claim(self, claim_no: str, period: str, settlement_ids: Sequence[str], *,
                     operator_id: int | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> ClaimReceipt:
        """Upload a monthly claim in chunks of at most 100 settlements.

        Chunks already delivered (a succeeded outbox entry for the same claim and chunk, by any
        counter sharing the database) are not sent again, so an interrupted upload resumes where
        it stopped. `progress(done, chunks)` is told after each chunk; `should_stop()` is asked
        before each: when it says yes the upload stops between chunks (status `stopped`)."""
        size = wire.MAX_CLAIM_SETTLEMENTS_PER_CHUNK
        chunks = [tuple(settlement_ids[i:i + size]) for i in range(0, len(settlement_ids), size)]
        if not chunks:
            raise CentreRefused("EMPTY", "月度结算申请中没有结算记录")
        done = self._delivered_claim_chunks(claim_no)
        if progress is not None:
            progress(len(done), len(chunks))
        status = "submitted"
        for number, ids in enumerate(chunks, start=1):
            if number in done:
                continue
            if should_stop is not None and should_stop():
                return ClaimReceipt(claim_no, len(chunks), tuple(sorted(done)), "stopped")
            chunk = ClaimChunk(claim_no, period, number, len(chunks), ids)
            receipt = self._through_outbox(
                Operation.CLAIM_UPLOAD, chunk, lambda m, c=chunk: self.centre.upload_claim_chunk(m, c),  # type: ignore[misc]
                None, operator_id,
            )
            done.add(number)
            status = receipt.status
            if progress is not None:
                progress(len(done), len(chunks))
        return ClaimReceipt(claim_no, len(chunks), tuple(sorted(done)), status)

    def _delivered_claim_chunks(self, claim_no: str) -> set[int]:
        with self.outbox.sessions() as session:
            requests = session.scalars(select(OutboxEntry.request).where(
                OutboxEntry.operation == Operation.CLAIM_UPLOAD.value,
                OutboxEntry.state == OutboxState.SUCCEEDED,
            )).all()
        return {int(r["chunk"]) for r in requests if r.get("claim_no") == claim_no}

    def reverse(self, msgid: str) -> ReversalResult:
        return self.outbox.reverse(msgid)

    def reconcile(self, day: dt.date) -> Reconciliation:
        """对账: the day's totals (3201), then the details (3202) against this counter's outbox.

        The counter's side: settlements and cancellations that succeeded, by the day in their msgid
        (the day they were issued, Beijing time: the centre's business date but for calls sent
        within seconds of midnight)."""
        totals = self.centre.daily_totals(day)
        centre_msgids: set[str] = set()
        page, pages = 1, 1
        while page <= pages:
            details = self.centre.daily_details(day, page)
            centre_msgids.update(r.msgid for r in details.records)
            page, pages = page + 1, details.pages
        stamp = day.strftime("%Y%m%d")
        with self.outbox.sessions() as session:
            rows = session.execute(select(OutboxEntry.msgid).where(
                OutboxEntry.operation.in_([Operation.SETTLEMENT.value, Operation.SETTLEMENT_CANCEL.value]),
                OutboxEntry.state.in_([OutboxState.SUCCEEDED, OutboxState.REVERSED]),
            )).scalars().all()
            reversed_here = set(session.execute(select(OutboxEntry.msgid).where(
                OutboxEntry.state == OutboxState.REVERSED)).scalars().all())
        # A reversed settlement leaves the centre's reconciliation entirely (interface §6, 2601).
        mine = {m for m in rows if m[12:20] == stamp and m not in reversed_here}
        return Reconciliation(day, totals, len(mine), tuple(sorted(centre_msgids - mine)),
                              tuple(sorted(mine - centre_msgids)))

    # --- queued work (补登记) -----------------------------------------------------------------

    def queue(self, operation: Operation, request: object, *, stay_id: int | None = None,
              operator_id: int | None = None) -> str:
        """Keep a state-changing call for later (the centre is unreachable); returns its msgid."""
        if operation not in _QUEUEABLE:
            raise ValueError(f"{operation.label}不能排队补登记")
        return self.outbox.queue(operation, request, stay_id=stay_id, operator_id=operator_id)

    def send_queued(self) -> list[Resolution]:
        """Send the queued calls in order, stopping at the first that does not go through."""

        def sender(operation: Operation, request: dict[str, object]) -> Callable[[str], object]:
            request_type, method_name = _QUEUEABLE[operation]
            value: object = from_json(request_type, request)
            method = getattr(self.centre, method_name)
            return lambda msgid: method(msgid, value)

        return self.outbox.send_queued(sender)


# What can wait for the link (request type, Centre method). Reversal and claims are not 补登记.
_QUEUEABLE: dict[Operation, tuple[type, str]] = {
    Operation.ADMISSION: (AdmissionRequest, "register_admission"),
    Operation.ADMISSION_CANCEL: (AdmissionCancelRequest, "cancel_admission"),
    Operation.FEE_UPLOAD: (FeeUpload, "upload_fees"),
    Operation.FEE_CANCEL: (FeeCancelRequest, "cancel_fees"),
    Operation.SETTLEMENT: (SettlementRequest, "settle"),
    Operation.SETTLEMENT_CANCEL: (SettlementCancelRequest, "cancel_settlement"),
}


def _institution(ctx: CounterContext) -> Institution:
    from app.settings import CENTRE_INSTITUTION_CODE

    code = ctx.settings.get(CENTRE_INSTITUTION_CODE)
    with ctx.transaction() as session:
        query = select(Institution)
        if code:
            query = query.where(Institution.code == code)
        institution = session.scalars(query.order_by(Institution.id)).first()
        if institution is None:
            raise ConfigurationError(
                "尚未登记本机构（协议机构编码、名称、所在城市），无法连接结算中心。请先在窗口的首次设置中填写本机构。"
            )
        session.expunge(institution)
        return institution


def _signing_key(ctx: CounterContext, institution_code: str,
                 demo_key: Callable[[str], str | None] | None = None) -> bytes:
    from app.errors import NoSecureStoreError
    from app.secret_store import CENTRE_KEY, get_secret

    try:
        secret = get_secret(CENTRE_KEY)
    except NoSecureStoreError:
        if not ctx.demo:
            raise
        secret = None  # a demo machine without a keyring still talks to the local sandbox
    if not secret and ctx.demo and demo_key is not None:
        # Demo mode talks to the local sandbox, whose demo keys are public values; the composition
        # root passes them in (the core does not know the sandbox).
        secret = demo_key(institution_code)
    if not secret:
        raise ConfigurationError(
            "没有结算中心签名密钥。请向结算中心索取本机构的密钥，用 wi-counter secret set centre-key 存入系统密钥环。"
        )
    return secret.encode("utf-8")


def _json_centre(ctx: CounterContext, url: str, key: bytes, caller: wire.Caller, msgids: Callable[[], str],
                 call_log: DatabaseCallLog, reachability: Reachability) -> Centre:
    from app.settings import (
        CENTRE_CA_FILE,
        CENTRE_CONNECT_TIMEOUT_MS,
        CENTRE_MAX_REPLY_MIB,
        CENTRE_READ_TIMEOUT_SECONDS,
    )

    return JsonCentre(
        url, key, caller, msgids, recorder=call_log,
        connect_timeout=ctx.settings.get(CENTRE_CONNECT_TIMEOUT_MS) / 1000,
        read_timeout=float(ctx.settings.get(CENTRE_READ_TIMEOUT_SECONDS)),
        ca_file=ctx.settings.get(CENTRE_CA_FILE) or None,
        reachability=reachability,
        max_reply_bytes=ctx.settings.get(CENTRE_MAX_REPLY_MIB) * 1024 * 1024,
    )


# One adapter per centre interface (setting centre.interface). Another region's centre (Guangdong's
# XML, Jiangsu's codes) is one more entry here and one more module: nothing else changes.
ADAPTERS: dict[str, Callable[..., Centre]] = {"wi-counter-json": _json_centre}


def open_centre(
    ctx: CounterContext,
    operator: tuple[str, str] | None = None,
    *,
    appliers: dict[Operation, Applier],
    reachability: Reachability | None = None,
    demo_key: Callable[[str], str | None] | None = None,
) -> CentreClient:
    """The centre client of this counter. `operator` = (login, name) of the clerk, else the system.

    `appliers`: the local effect of each applied call. The program's clients carry all of them
    (`app.composition.open_counter_centre`: the 就医登记号, the settlement, its cancellation…);
    `{}` gives a client without local effects. `demo_key`: institution code → the sandbox's public
    demo key, used in demo mode when the keyring holds none (`app.composition.demo_signing_key`)."""
    from app.settings import CENTRE_INTERFACE, CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL

    institution = _institution(ctx)
    key = _signing_key(ctx, institution.code, demo_key)
    login, name = operator or SYSTEM_OPERATOR
    caller = wire.Caller(
        institution_code=institution.code, institution_name=institution.name, operator_code=login,
        operator_name=name, treatment_region=institution.city_code, operator_type="1" if operator else "3",
    )
    url = ctx.settings.get(CENTRE_URL)
    reach = reachability or Reachability()
    outbox_holder: list[Outbox] = []
    call_log = DatabaseCallLog(ctx.sessions, ctx.counter_name)
    centre = ADAPTERS[ctx.settings.get(CENTRE_INTERFACE)](
        ctx, url, key, caller, lambda: outbox_holder[0].read_msgid(), call_log, reach,
    )
    outbox = Outbox(ctx.sessions, centre, institution.code, ctx.counter_name, appliers=appliers,
                    lease_seconds=ctx.settings.get(CENTRE_READ_TIMEOUT_SECONDS) + 30, call_log=call_log)
    outbox_holder.append(outbox)
    return CentreClient(centre, outbox, reach, url)
