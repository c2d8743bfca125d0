"""Building a month's claim (月度结算申请) and reading claims back.

Membership (`000 §31`, `003 §21`): a claim for month M holds
- every discharge settlement whose settlement date falls in M (a stay across a year end counts
  once, at its settlement date, `000 §32`), unless it was cancelled before it was claimed (then
  neither it nor its cancellation is claimed: net of cancellations);
- every cancellation, dated on or before the end of M, of a settlement already claimed in an
  earlier batch that has gone up: the correction (冲销), never silently dropped.
A settlement is in at most one claim (UNIQUE `claim_entry.settlement_id`).

Building is idempotent: while a claim is a draft, building again refreshes it in place (same batch
number; settlements cancelled meanwhile leave it, new ones join). Once it has gone up it is frozen;
settlements of M that arrive later go into a supplementary batch (sequence 2, 3 …). The batch
number is the institution code + YYYYMM + the sequence, unique by the database's UNIQUE
(month, centre, sequence), whichever counter builds it; on PostgreSQL builds of one month take
turns under an advisory lock, so two counters building at once get the same claim.
"""

from __future__ import annotations

import calendar as calendar_module
import datetime as dt
import functools
import logging
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Delete,
    Insert,
    Integer,
    Select,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app import audit
from app.centre.wire import CHINA_TZ
from app.business_date import business_today
from app.bootstrap import CounterContext
from app.claims.deadlines import parse_month as month_numbers
from app.claims.forms import (
    CARE_LABELS,
    CORRECTION_NOTE,
    Amounts,
    ClaimForms,
    DetailRow,
    DeviceRow,
    FormHeader,
    SummaryRow,
    add_amounts,
)
from app.db.models import (
    CatalogueItem,
    FittedDevice,
    ChargeCategory,
    ChargeLine,
    ClaimEntry,
    ClaimStatus,
    Institution,
    MonthlyClaim,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementMatrixCell,
    Stay,
    Worker,
)
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission, require
from app.settings import CLAIMS_AGENCY_CODE, CLAIMS_AGENCY_NAME, CLAIMS_PROFILE, Settings
from app.rules.case import place_name

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
BUILD_ATTEMPTS = 3

STATUS_LABELS: dict[ClaimStatus, str] = {
    ClaimStatus.DRAFT: "已生成，未上传",
    ClaimStatus.UPLOADING: "上传中（可续传）",
    ClaimStatus.UPLOADED: "已上传，待审核",
    ClaimStatus.ANSWERED: "已审核",
}


class ClaimError(WiCounterError):
    """A claim cannot be built, uploaded or answered as asked; the message says why."""


@dataclass(frozen=True)
class Agency:
    code: str  # 结算机构编码
    name: str  # 结算机构名称


@dataclass(frozen=True)
class ClaimSummary:
    claim_id: int
    batch_no: str
    month: str
    centre_code: str
    sequence: int
    status: ClaimStatus
    person_times: int
    settlements: int
    corrections: int
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    deduction_total: Decimal
    built_at: dt.datetime
    uploaded_at: dt.datetime | None
    answered_at: dt.datetime | None
    chunks: int
    chunks_done: int
    centre_status: str | None
    profile: str | None

    @property
    def fund_settled_total(self) -> Decimal:
        """基金结算金额 = 基金支付总额 − 扣款金额 (`000 附件9`)."""
        return self.fund_total - self.deduction_total

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class BuildResult:
    claim: ClaimSummary
    added: int  # entries that joined the claim in this build
    removed: int  # draft entries that left it (cancelled before upload)
    created: bool  # a new batch was opened

    @property
    def unchanged(self) -> bool:
        return not self.created and not self.added and not self.removed


def parse_month(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of `YYYY-MM`, or a ClaimError naming the bad value."""
    try:
        year, number = month_numbers(month.strip() if isinstance(month, str) else "")
    except ValueError:
        raise ClaimError(f"月份 {month!r} 格式不对，应为 YYYY-MM，例如 2026-11") from None
    return dt.date(year, number, 1), dt.date(year, number, calendar_module.monthrange(year, number)[1])


def ended_months(today: dt.date, count: int) -> list[str]:
    """The `count` months before today's, latest first, as YYYY-MM."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(f"{year:04d}-{month:02d}")
    return months


def previous_month(today: dt.date) -> str:
    return ended_months(today, 1)[0]


def agency_from_settings(settings: Settings, institution: Institution) -> Agency:
    code = settings.get(CLAIMS_AGENCY_CODE) or institution.city_code
    name = settings.get(CLAIMS_AGENCY_NAME) or f"{institution.city}社会保险经办机构"
    return Agency(code, name)


def batch_number(institution_code: str, month: str, sequence: int) -> str:
    return f"{institution_code}{month.replace('-', '')}{sequence:02d}"


def _institution(session: Session) -> Institution:
    institution = session.scalars(select(Institution).order_by(Institution.id)).first()
    if institution is None:
        raise ClaimError("数据库中还没有登记本机构，不能生成月度结算申请")
    return institution


# --- membership ---------------------------------------------------------------------------


@functools.cache
def _add_eligible() -> Insert:
    """INSERT into claim_entry of what may join a claim of the month (`:first` … `:last`) and is in
    no claim yet: the month's settlements not cancelled, and cancellations (up to the month's end)
    of settlements claimed in a batch that has gone up. Copied by the database without a round
    trip; built once (its aliases cost more to build than the statement takes to run)."""
    cancellation = aliased(Settlement)
    original_entry = aliased(ClaimEntry)
    original_claim = aliased(MonthlyClaim)
    first, last = bindparam("first", type_=Date), bindparam("last", type_=Date)
    settlement_of_month = and_(
        Settlement.kind == SettlementKind.SETTLEMENT,
        Settlement.settled_on >= first, Settlement.settled_on <= last,
        ~exists().where(cancellation.reverses_id == Settlement.id),
    )
    correction = and_(
        Settlement.kind == SettlementKind.CANCELLATION,
        Settlement.settled_on <= last,
        exists().where(original_entry.settlement_id == Settlement.reverses_id,
                       original_claim.id == original_entry.claim_id,
                       original_claim.status != ClaimStatus.DRAFT),
    )
    eligible = select(
        Settlement.id, Settlement.total, Settlement.fund_total, Settlement.personal_total,
        bindparam("claim_id", type_=Integer), literal_column("0", Integer),
    ).where(
        or_(settlement_of_month, correction),
        ~exists().where(ClaimEntry.settlement_id == Settlement.id),
    ).order_by(Settlement.settled_on, Settlement.id)  # entry order = chunk order, stable across restarts
    return insert(ClaimEntry.__table__).from_select(  # type: ignore[arg-type]
        ["settlement_id", "total_fen", "fund_total_fen", "personal_total_fen", "claim_id", "deduction_fen"], eligible)


@functools.cache
def _remove_cancelled() -> Delete:
    """A draft's settlement cancelled since (before it was claimed) leaves it: net of cancellations."""
    cancellation = aliased(Settlement)
    stale = select(Settlement.id).where(Settlement.kind == SettlementKind.SETTLEMENT,
                                        exists().where(cancellation.reverses_id == Settlement.id))
    return delete(ClaimEntry).where(ClaimEntry.claim_id == bindparam("claim_id", type_=Integer),
                                    ClaimEntry.settlement_id.in_(stale))


def _serialise_builds(session: Session, month: str, centre_code: str) -> None:
    """Two counters building the same month take turns (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"wi-counter claim {month} {centre_code}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def build_claim(ctx: CounterContext, month: str, operator: OperatorInfo, *,
                today: dt.date | None = None) -> BuildResult:
    """Build (or refresh) the claim of `month`; see the module's docstring for what goes in."""
    require(operator, Permission.BUILD_CLAIM)
    first, last = parse_month(month)
    month = f"{first:%Y-%m}"
    today = today or business_today()
    if last >= today:
        raise ClaimError(f"{month} 尚未结束：月度结算申请在月份结束后生成（申请上月的费用，003 §21）")
    last_error: IntegrityError | None = None
    for _ in range(BUILD_ATTEMPTS):
        try:
            with ctx.transaction() as session:
                return _build(session, ctx.settings, month, first, last, operator, ctx.counter_name)
        except IntegrityError as exc:
            # Another counter built the same month in between (SQLite, or a race the lock
            # cannot see): start over, and find its claim.
            last_error = exc
            log.info("claim build for %s raced another counter; retrying", month)
    raise ClaimError(f"{month} 的月度结算申请正由其他窗口生成，请稍后再试") from last_error


def _build(session: Session, settings: Settings, month: str, first: dt.date, last: dt.date,
           operator: OperatorInfo, counter_name: str) -> BuildResult:
    # Core statements, built once, on the session's connection: the clerk waits for the build, and
    # per-call statement building, ORM flushes and object loading cost more than the set-based
    # INSERT … SELECT that does the work (issue 25, bench/claims.py).
    connection = session.connection()
    row = connection.execute(_STATEMENTS.institution).first()
    if row is None:
        raise ClaimError("数据库中还没有登记本机构，不能生成月度结算申请")
    institution_code, city, city_code = row
    agency = Agency(settings.get(CLAIMS_AGENCY_CODE) or city_code,
                    settings.get(CLAIMS_AGENCY_NAME) or f"{city}社会保险经办机构")
    _serialise_builds(session, month, agency.code)
    claims = connection.execute(_STATEMENTS.month_claims, {"month": month, "centre": agency.code}).all()
    draft = next((c for c in claims if c.status is ClaimStatus.DRAFT), None)
    created = draft is None
    removed = 0
    built_at = dt.datetime.now(dt.UTC)
    if draft is None:
        sequence = (claims[-1].sequence + 1) if claims else 1
        values = {
            "batch_no": batch_number(institution_code, month, sequence), "month": month,
            "centre_code": agency.code, "sequence": sequence, "status": ClaimStatus.DRAFT, "person_times": 0,
            "total_fen": ZERO, "fund_total_fen": ZERO, "personal_total_fen": ZERO, "deduction_total_fen": ZERO,
            "built_by": operator.id, "built_at": built_at, "uploaded_at": None, "answered_at": None,
            "agency_name": agency.name, "profile": settings.get(CLAIMS_PROFILE), "chunks": 0, "chunks_done": 0,
            "centre_status": None,
        }
        claim_id = connection.execute(_STATEMENTS.new_claim, values).inserted_primary_key[0]  # type: ignore[index]
        claim = dict(values, id=claim_id)
    else:
        claim = dict(draft._mapping)
        claim_id = claim["id"]
        deleted = connection.execute(_remove_cancelled(), {"claim_id": claim_id})
        removed = getattr(deleted, "rowcount", 0) or 0
    before = 0 if created else (connection.execute(_STATEMENTS.entry_count, {"claim_id": claim_id}).scalar() or 0)
    connection.execute(_add_eligible(), {"first": first, "last": last, "claim_id": claim_id})
    # The totals' count tells what was added (SQLite reports -1 as the rowcount of INSERT … SELECT).
    count, corrections, total, fund, personal, deduction = connection.execute(
        _STATEMENTS.totals, {"claim_id": claim_id}).one()
    added = count - before
    if created and not added:
        connection.execute(_STATEMENTS.drop_claim, {"claim_id": claim_id})  # nothing left to claim: no empty batch
        if claims:
            return BuildResult(_summary_of_row(connection, claims[-1]._mapping), 0, 0, False)
        raise ClaimError(f"{month} 没有可申报的结算记录（该月没有出院结算，或都已申报）")
    claim.update(person_times=count - 2 * corrections, total_fen=_fen(total), fund_total_fen=_fen(fund),
                 personal_total_fen=_fen(personal), deduction_total_fen=_fen(deduction))
    if created or added or removed:
        claim.update(built_by=operator.id, built_at=built_at)
    connection.execute(_STATEMENTS.set_totals, {"claim_id": claim_id, **{
        f"new_{name}": claim[name] for name in _SET_ON_BUILD}})
    if created or added or removed:
        audit.record(session, "claim_built", operator_id=operator.id, counter_name=counter_name,
                     entity_type="monthly_claim", entity_id=claim_id,
                     detail={"batch_no": claim["batch_no"], "month": month, "added": added, "removed": removed,
                             "total": str(claim["total_fen"]), "fund_total": str(claim["fund_total_fen"])})
    return BuildResult(_summary_from(claim, int(count), int(corrections)), added, removed, created)


_SET_ON_BUILD = ("person_times", "total_fen", "fund_total_fen", "personal_total_fen", "deduction_total_fen",
                 "built_by", "built_at")


class _BuildStatements:
    """The build's Core statements, made on first use and kept (their construction costs more
    than most of them take to run)."""

    @functools.cached_property
    def institution(self) -> Select[str, str, str]:
        return select(Institution.code, Institution.city, Institution.city_code).order_by(Institution.id).limit(1)

    @functools.cached_property
    def month_claims(self) -> Select[Any]:
        table = MonthlyClaim.__table__
        return select(table).where(table.c.month == bindparam("month"),
                                   table.c.centre_code == bindparam("centre")).order_by(table.c.sequence)

    @functools.cached_property
    def claim_row(self) -> Select[Any]:
        table = MonthlyClaim.__table__
        return select(table).where(table.c.id == bindparam("claim_id"))

    @functools.cached_property
    def new_claim(self) -> Insert:
        return insert(MonthlyClaim.__table__)  # type: ignore[arg-type]

    @functools.cached_property
    def drop_claim(self) -> Delete:
        table = MonthlyClaim.__table__
        return delete(table).where(table.c.id == bindparam("claim_id"))  # type: ignore[arg-type]

    @functools.cached_property
    def set_totals(self) -> Update:
        table = MonthlyClaim.__table__
        return update(table).where(table.c.id == bindparam("claim_id")).values(  # type: ignore[arg-type]
            {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in _SET_ON_BUILD})

    @functools.cached_property
    def entry_count(self) -> Select[int]:
        return select(func.count(ClaimEntry.id)).where(ClaimEntry.claim_id == bindparam("claim_id"))

    @functools.cached_property
    def counts(self) -> Select[int, int]:
        return (select(func.count(ClaimEntry.id), func.count(Settlement.reverses_id))
                .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
                .where(ClaimEntry.claim_id == bindparam("claim_id")))

    @functools.cached_property
    def totals(self) -> Select[int, int, Decimal, Decimal, Decimal, Decimal]:
        return select(
            func.count(ClaimEntry.id),
            func.count(Settlement.reverses_id),
            func.coalesce(func.sum(ClaimEntry.total), 0),
            func.coalesce(func.sum(ClaimEntry.fund_total), 0),
            func.coalesce(func.sum(ClaimEntry.personal_total), 0),
            func.coalesce(func.sum(ClaimEntry.deduction), 0),
        ).join(Settlement, Settlement.id == ClaimEntry.settlement_id).where(
            ClaimEntry.claim_id == bindparam("claim_id"))


_STATEMENTS = _BuildStatements()


def _summary_of_row(connection: Connection, claim: Mapping[Any, Any]) -> ClaimSummary:
    count, corrections = connection.execute(_STATEMENTS.counts, {"claim_id": claim["id"]}).one()
    return _summary_from(claim, int(count), int(corrections))


def _summary_from(claim: Mapping[Any, Any], entries: int, corrections: int) -> ClaimSummary:
    """A claim's summary from its row's values (column names, as `monthly_claim` has them)."""
    return ClaimSummary(
        claim_id=claim["id"], batch_no=claim["batch_no"], month=claim["month"], centre_code=claim["centre_code"],
        sequence=claim["sequence"], status=claim["status"], person_times=claim["person_times"],
        settlements=entries - corrections, corrections=corrections, total=claim["total_fen"],
        fund_total=claim["fund_total_fen"], personal_total=claim["personal_total_fen"],
        deduction_total=claim["deduction_total_fen"], built_at=claim["built_at"], uploaded_at=claim["uploaded_at"],
        answered_at=claim["answered_at"], chunks=claim["chunks"], chunks_done=claim["chunks_done"],
        centre_status=claim["centre_status"], profile=claim["profile"],
    )


def _refresh_totals(session: Session, claim: MonthlyClaim) -> tuple[int, int]:
    """The claim's totals from its entries; returns (entries, corrections)."""
    row = session.execute(_STATEMENTS.totals, {"claim_id": claim.id}).one()
    count, corrections, total, fund, personal, deduction = row
    claim.person_times = count - 2 * corrections
    claim.total = _fen(total)
    claim.fund_total = _fen(fund)
    claim.personal_total = _fen(personal)
    claim.deduction_total = _fen(deduction)
    return int(count), int(corrections)


def _fen(value: object) -> Decimal:
    # SUM over the integer fen column comes back as the stored integer (the type decorator is
    # not applied to an aggregate through coalesce), or as a Decimal when it was applied.
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))  # type: ignore[call-overload]


# --- reading claims ------------------------------------------------------------------------


def _summary(session: Session, claim: MonthlyClaim, counts: tuple[int, int] | None = None) -> ClaimSummary:
    if counts is None:
        row = session.execute(select(func.count(ClaimEntry.id), func.count(Settlement.reverses_id))
                              .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
                              .where(ClaimEntry.claim_id == claim.id)).one()
        counts = int(row[0]), int(row[1])
    entries, corrections = counts
    return ClaimSummary(
        claim_id=claim.id, batch_no=claim.batch_no, month=claim.month, centre_code=claim.centre_code,
        sequence=claim.sequence, status=claim.status, person_times=claim.person_times,
        settlements=entries - corrections, corrections=corrections, total=claim.total, fund_total=claim.fund_total,
        personal_total=claim.personal_total, deduction_total=claim.deduction_total, built_at=claim.built_at,
        uploaded_at=claim.uploaded_at, answered_at=claim.answered_at, chunks=claim.chunks,
        chunks_done=claim.chunks_done, centre_status=claim.centre_status, profile=claim.profile,
    )


def list_claims(session: Session, month: str | None = None) -> list[ClaimSummary]:
    query = select(MonthlyClaim).order_by(MonthlyClaim.month.desc(), MonthlyClaim.sequence.desc())
    if month is not None:
        query = query.where(MonthlyClaim.month == month)
    return [_summary(session, claim) for claim in session.scalars(query)]


def claim_by_batch(session: Session, batch_no: str) -> MonthlyClaim:
    claim = session.scalars(select(MonthlyClaim).where(MonthlyClaim.batch_no == batch_no.strip())).first()
    if claim is None:
        raise ClaimError(f"没有结算批次为 {batch_no} 的月度结算申请")
    return claim


def claim_summary(session: Session, claim_id: int) -> ClaimSummary:
    claim = session.get(MonthlyClaim, claim_id)
    if claim is None:
        raise ClaimError(f"没有编号为 {claim_id} 的月度结算申请")
    return _summary(session, claim)


def claimed_centre_ids(session: Session, claim_id: int) -> list[str]:
    """The centre's ids of the claim's settlements and cancellations, in a stable order (chunks
    must be the same after a restart)."""
    return list(session.scalars(
        select(Settlement.centre_settlement_id).join(ClaimEntry, ClaimEntry.settlement_id == Settlement.id)
        .where(ClaimEntry.claim_id == claim_id).order_by(ClaimEntry.id)))


# --- the forms -----------------------------------------------------------------------------


def insured_place(institution_province: str, province: str, city: str) -> str:
    """参保地: the city, with its province when it is another province's (跨省)."""
    return city if province == institution_province else place_name(province, city)


def claim_forms(session: Session, claim_id: int, *, generated_on: dt.date | None = None) -> ClaimForms:
    """The three forms of one claim (`000 附件9`, `附件9-1`, `附件9-2`)."""
    claim = session.get(MonthlyClaim, claim_id)
    if claim is None:
        raise ClaimError(f"没有编号为 {claim_id} 的月度结算申请")
    institution = _institution(session)
    header = FormHeader(
        institution_name=institution.name, institution_code=institution.code,
        agency_name=claim.agency_name or f"{institution.city}社会保险经办机构", agency_code=claim.centre_code,
        batch_no=claim.batch_no, generated_on=generated_on or claim.built_at.astimezone(CHINA_TZ).date(), month=claim.month,
    )
    original = aliased(Settlement)
    original_entry = aliased(ClaimEntry)
    original_claim = aliased(MonthlyClaim)
    rows = session.execute(
        select(
            Settlement.id, Settlement.kind, Settlement.settled_on, ClaimEntry.total, ClaimEntry.fund_total,
            ClaimEntry.personal_total, ClaimEntry.deduction, Stay.care, Stay.admitted_on, Stay.discharged_on,
            Worker.name, Worker.social_security_number, Worker.insured_province, Worker.insured_city,
            original.settled_on, original_claim.batch_no,
        )
        .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
        .join(Stay, Stay.id == Settlement.stay_id)
        .join(Worker, Worker.id == Stay.worker_id)
        .outerjoin(original, original.id == Settlement.reverses_id)
        .outerjoin(original_entry, original_entry.settlement_id == original.id)
        .outerjoin(original_claim, original_claim.id == original_entry.claim_id)
        .where(ClaimEntry.claim_id == claim.id)
        .order_by(Settlement.settled_on, Settlement.id)
    ).all()
    device_ids = [r[0] for r in rows if r[7].value == "device"]
    devices = _device_facts(session, device_ids)
    details: list[DetailRow] = []
    device_rows: list[DeviceRow] = []
    groups: dict[tuple[str, str], list[tuple[bool, Amounts]]] = defaultdict(list)
    for (sid, kind, settled_on, total, fund, personal, deduction, care, admitted, discharged, name, id_number,
         province, city, original_settled, original_batch) in rows:
        correction = kind is SettlementKind.CANCELLATION
        amounts = Amounts(total, fund, personal, deduction, fund - deduction)
        place = insured_place(institution.province, province, city)
        note = ""
        if correction:
            note = f"{CORRECTION_NOTE}：批次 {original_batch or '—'} 中 {original_settled:%Y-%m-%d} 的结算，已撤销"
        groups[(place, care.value)].append((correction, amounts))
        if care.value == "device":
            facts = devices.get(sid, _NO_DEVICE)
            device_rows.append(DeviceRow(
                seq=len(device_rows) + 1, insured_place=place, name=name, id_number=id_number,
                device_name=facts.name, configured_on=facts.configured_on or original_settled or settled_on,
                min_years=facts.min_years, max_pay=facts.max_pay, amounts=amounts, correction=correction, note=note,
            ))
        else:
            details.append(DetailRow(
                seq=len(details) + 1, insured_place=place, name=name, id_number=id_number,
                care_label=CARE_LABELS[care.value], admitted=admitted, discharged=discharged, settled=settled_on,
                amounts=amounts, correction=correction, note=note,
            ))
    care_order = list(CARE_LABELS)
    summary = [
        SummaryRow(seq=number, insured_place=place, care_label=CARE_LABELS[care],
                   person_times=sum(-1 if correction else 1 for correction, _ in members),
                   amounts=add_amounts(a for _, a in members))
        for number, ((place, care), members) in enumerate(
            sorted(groups.items(), key=lambda item: (item[0][0], care_order.index(item[0][1]))), start=1)
    ]
    return ClaimForms(header, tuple(summary), tuple(details), tuple(device_rows))


@dataclass(frozen=True)
class _DeviceFacts:
    name: str
    configured_on: dt.date | None
    min_years: int | None
    max_pay: Decimal | None


_NO_DEVICE = _DeviceFacts("—", None, None, None)


def _device_facts(session: Session, settlement_ids: list[int]) -> dict[int, _DeviceFacts]:
    """The devices of each device settlement (cancellations: of the settlement they cancel)."""
    if not settlement_ids:
        return {}
    originals = dict(session.execute(select(Settlement.id, func.coalesce(Settlement.reverses_id, Settlement.id))
                                     .where(Settlement.id.in_(settlement_ids))).all())
    # A fitting on a 配置费用核付通知单 (issue 23 §8): 配置时间, 最低使用年限 and 最高支付限额 as recorded
    # from the notice (the insured place's, 000 §29, 001 §15); a device stay admitted before the
    # counter recorded notices keeps the catalogue's figures and its first line's date.
    lines = session.execute(
        select(SettlementLine.settlement_id, ChargeLine.name, ChargeLine.charged_on, CatalogueItem.min_years,
               CatalogueItem.max_pay, FittedDevice.fitted_on, FittedDevice.min_years, FittedDevice.max_pay)
        .join(ChargeLine, ChargeLine.id == SettlementLine.charge_line_id)
        .outerjoin(CatalogueItem, CatalogueItem.code == ChargeLine.code)
        .outerjoin(FittedDevice, (FittedDevice.stay_id == ChargeLine.stay_id) & (FittedDevice.code == ChargeLine.code))
        .where(SettlementLine.settlement_id.in_(set(originals.values())),
               SettlementLine.category == ChargeCategory.DEVICE, SettlementLine.amount > ZERO)
        .order_by(SettlementLine.settlement_id, ChargeLine.charged_on, ChargeLine.seq)
    ).all()
    by_settlement: dict[int, list[tuple[str, dt.date, int | None, Decimal | None]]] = defaultdict(list)
    for (settlement_id, name, charged_on, min_years, max_pay, fitted_on, notice_years,
         notice_max) in lines:
        if fitted_on is not None:
            charged_on, min_years, max_pay = fitted_on, notice_years, notice_max
        by_settlement[settlement_id].append((name, charged_on, min_years, max_pay))
    facts: dict[int, _DeviceFacts] = {}
    for sid, source in originals.items():
        items = by_settlement.get(source)
        if not items:
            continue
        names = "、".join(dict.fromkeys(name for name, *_ in items))
        single = len({name for name, *_ in items}) == 1
        facts[sid] = _DeviceFacts(names, items[0][1], items[0][2] if single else None,
                                  items[0][3] if single else None)
    return facts


# --- the month at a glance (the 月度结算 page's chart) ---------------------------------------


@dataclass(frozen=True)
class ChartBar:
    label: str
    count: int
    total: Decimal
    fund_total: Decimal


@dataclass(frozen=True)
class MonthOverview:
    month: str
    settlements: int  # in force (not cancelled)
    total: Decimal
    fund_total: Decimal
    personal_total: Decimal
    by_category: tuple[ChartBar, ...]  # 药品 / 诊疗项目 / 医用耗材 / 康复 / 辅助器具 (the slip's columns)
    by_insured_place: tuple[ChartBar, ...]
    by_care: tuple[ChartBar, ...]  # 住院 / 康复 / 辅助器具配置
    claims: tuple[ClaimSummary, ...]
    unclaimed: int  # settlements of the month in no claim yet


CATEGORY_LABELS: dict[str, str] = {"drug": "药品", "treatment": "诊疗项目", "consumable": "医用耗材",
                                   "rehab": "康复服务项目", "device": "辅助器具"}


def month_overview(session: Session, month: str) -> MonthOverview:
    first, last = parse_month(month)
    month = f"{first:%Y-%m}"
    institution = _institution(session)
    cancellation = aliased(Settlement)
    in_force = and_(Settlement.kind == SettlementKind.SETTLEMENT, Settlement.settled_on >= first,
                    Settlement.settled_on <= last, ~exists().where(cancellation.reverses_id == Settlement.id))
    rows = session.execute(
        select(Settlement.id, Settlement.total, Settlement.fund_total, Settlement.personal_total, Stay.care,
               Worker.insured_province, Worker.insured_city)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id).where(in_force)
    ).all()
    by_place: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), ZERO, ZERO])
    by_care: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), ZERO, ZERO])
    total = fund = personal = ZERO
    for _sid, s_total, s_fund, s_personal, care, province, city in rows:
        for bucket in (by_place[insured_place(institution.province, province, city)], by_care[care.value]):
            bucket[0] += 1
            bucket[1] += s_total
            bucket[2] += s_fund
        total += s_total
        fund += s_fund
        personal += s_personal
    cells = session.execute(
        select(SettlementMatrixCell.category, SettlementMatrixCell.bucket, func.sum(SettlementMatrixCell.amount))
        .join(Settlement, Settlement.id == SettlementMatrixCell.settlement_id).where(in_force)
        .group_by(SettlementMatrixCell.category, SettlementMatrixCell.bucket)
    ).all()
    by_category: dict[str, list[Decimal]] = {c: [Decimal(0), ZERO, ZERO] for c in CATEGORY_LABELS}
    for category, cell_bucket, amount in cells:
        value = _fen(amount)
        by_category[category.value][1] += value
        if cell_bucket.value == "fund":
            by_category[category.value][2] += value
    unclaimed = session.scalar(select(func.count(Settlement.id)).where(
        in_force, ~exists().where(ClaimEntry.settlement_id == Settlement.id))) or 0

    def bars(groups: dict[str, list[Decimal]], labels: dict[str, str] | None = None) -> tuple[ChartBar, ...]:
        return tuple(ChartBar((labels or {}).get(key, key), int(v[0]), v[1], v[2]) for key, v in groups.items())

    places = dict(sorted(by_place.items(), key=lambda item: -item[1][1]))
    cares = {key: by_care[key] for key in CARE_LABELS if key in by_care}
    return MonthOverview(
        month=month, settlements=len(rows), total=total, fund_total=fund, personal_total=personal,
        by_category=bars(by_category, CATEGORY_LABELS), by_insured_place=bars(places), by_care=bars(cares, CARE_LABELS),
        claims=tuple(list_claims(session, month)), unclaimed=int(unclaimed),
    )
