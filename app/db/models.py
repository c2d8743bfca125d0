"""The counter's data model (SQLAlchemy 2 typed mappings).

Conventions:
- Money is `Decimal` with two places, stored as integer fen (`app.db.types`); the SQL
  column names end in `_fen`. Unit prices and quantities keep four places.
- Times are stored in UTC and come back timezone-aware (`UtcDateTime`).
- A settlement is never edited: a cancellation is a new `Settlement` row of kind
  `cancellation` that points at the one it reverses, with the amounts negated
  (as in openhis `zy_js` and hsa-his). `app.db.guards` refuses updates and deletes.
- Every change of the schema is an Alembic migration in `app/db/migrations/versions`.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.db.types import Money, Quantity, UnitPrice

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, UTC in storage, aware UTC out (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"a timezone-aware datetime is required, got {value!r}")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    # Stored as the value text with a CHECK constraint: portable, readable in SQL.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- enumerations -----------------------------------------------------------------


class Role(enum.StrEnum):
    CASHIER = "cashier"  # 收款员
    REVIEWER = "reviewer"  # 审核员
    ADMIN = "admin"  # 管理员

    @property
    def label(self) -> str:
        return {"cashier": "收款员", "reviewer": "审核员", "admin": "管理员"}[self.value]


class RecognitionKind(enum.StrEnum):
    INJURY = "injury"  # 工伤认定
    RECURRENCE = "recurrence"  # 工伤复发确认
    REHAB = "rehab"  # 工伤康复确认
    DEVICE = "device"  # 辅助器具配置确认


class FilingCategory(enum.StrEnum):
    LONG_TERM_RESIDENCE = "long_term_residence"  # 异地长期居住
    LONG_TERM_WORK = "long_term_work"  # 常驻异地工作
    REFERRAL = "referral"  # 异地转诊转院


class FilingStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


class Care(enum.StrEnum):
    MEDICAL = "medical"  # 就医
    REHAB = "rehab"  # 康复
    DEVICE = "device"  # 辅助器具配置


class StayStatus(enum.StrEnum):
    ADMITTED = "admitted"  # 在院
    PENDING_SETTLEMENT = "pending_settlement"  # 待结算
    SETTLED = "settled"  # 已结算
    CANCELLED = "cancelled"  # 已撤销
    # 全额垫付 (paid in full while direct settlement could not go through, 003 §17): 待补登记 until the
    # receipt's `backfilled_at`, then done. Never settled directly afterwards (000 §34, 001 §16).
    PENDING_BACKFILL = "pending_backfill"


class DiagnosisRole(enum.StrEnum):
    ADMITTING = "admitting"  # 入院诊断
    DISCHARGE = "discharge"  # 出院诊断


class ChargeCategory(enum.StrEnum):
    DRUG = "drug"  # 药品
    TREATMENT = "treatment"  # 诊疗项目 (incl. 住院服务标准)
    CONSUMABLE = "consumable"  # 医用耗材
    REHAB = "rehab"  # 康复服务项目
    DEVICE = "device"  # 辅助器具


class ChargeSource(enum.StrEnum):
    HIS = "his"
    MANUAL = "manual"


class SettlementKind(enum.StrEnum):
    SETTLEMENT = "settlement"
    CANCELLATION = "cancellation"


class Bucket(enum.StrEnum):
    FUND = "fund"  # 工伤保险基金支付金额
    OVER_LIMIT = "over_limit"  # 超限价自付金额
    SELF_PAY = "self_pay"  # 自费金额
    NON_INJURY = "non_injury"  # 其他（非工伤伤情费用）


class PrintKind(enum.StrEnum):
    ORIGINAL = "original"
    REPRINT = "reprint"  # 补打
    CANCELLED = "cancelled"  # printed after cancellation, marked 已撤销


class ClaimStatus(enum.StrEnum):
    DRAFT = "draft"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    ANSWERED = "answered"


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # written, not yet sent
    SENT = "sent"  # sent, outcome unknown until the reply or a query by msgid
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the centre refused it: nothing applied
    REVERSED = "reversed"  # applied, then reversed (冲正)


# --- the counter itself ------------------------------------------------------------


class Institution(Base):
    """The agreement institution (协议机构) this counter belongs to."""

    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    city_code: Mapped[str] = mapped_column(String(6))
    level: Mapped[str] = mapped_column(String(16))  # 医院等级, e.g. 三级甲等
    direct_settlement: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class DatabaseIdentity(Base):
    """What this database is, written once when it is created: a site's (`site`) or a demo's (`demo`).

    Demo data (operators with the public password demo1234) goes only into a database marked
    `demo` (`app.db.identity`), so `--demo` pointed at a site's database refuses instead of seeding it.
    """

    __tablename__ = "database_identity"
    __table_args__ = (CheckConstraint("kind IN ('site', 'demo')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class Operator(Base):
    """A person at the counter. `display_name` prints as 收款人 / 制单人 on the slip."""

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Who did what, when. Append-only; each event hashes its predecessor (a chain)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    counter_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # How `hash` was made: NULL/"sha256" the old unkeyed chain, "hmac-sha256" keyed (migration 0012).
    hash_scheme: Mapped[str | None] = mapped_column(String(16))


class AuditHead(Base):
    """The chain's head (one row): the last event and the count, so deleting the newest events shows.

    Every append locks and moves it, which also serialises appends from counters sharing a
    PostgreSQL database (two appends reading the same predecessor would fork the chain).
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    last_event_id: Mapped[int | None] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)
    keyed_from: Mapped[int | None] = mapped_column(Integer)  # the first event keyed with the audit key
    head_mac: Mapped[str | None] = mapped_column(String(64))  # HMAC of the head with the audit key


# --- people and their entitlements -------------------------------------------------


class Worker(Base):
    """The injured worker (工伤职工), as last read from the card and the centre."""

    __tablename__ = "worker"

    id: Mapped[int] = mapped_column(primary_key=True)
    social_security_number: Mapped[str] = mapped_column(String(18), unique=True)  # = citizen ID
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(2))  # 男 / 女
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    nation: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(16), default="在职")  # 人员类别
    insured_province: Mapped[str] = mapped_column(String(32))
    insured_city: Mapped[str] = mapped_column(String(32))
    insured_city_code: Mapped[str] = mapped_column(String(6))
    card_number: Mapped[str | None] = mapped_column(String(16))
    card_id: Mapped[str | None] = mapped_column(String(32))
    insurance_active: Mapped[bool] = mapped_column(Boolean, default=True)
    contribution_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)

    recognitions: Mapped[list[InjuryRecognition]] = relationship(back_populates="worker")
    filings: Mapped[list[Filing]] = relationship(back_populates="worker")


class InjuryRecognition(Base):
    """工伤认定 (or 复发 / 康复 / 辅助器具配置 confirmation): the injury the fund covers."""

    __tablename__ = "injury_recognition"
    __table_args__ = (UniqueConstraint("worker_id", "decision_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    decision_no: Mapped[str] = mapped_column(String(64))  # 认定决定书编号
    kind: Mapped[RecognitionKind] = mapped_column(_enum(RecognitionKind, "recognition_kind"))
    injury_date: Mapped[dt.date] = mapped_column(Date)
    recognised_on: Mapped[dt.date | None] = mapped_column(Date)

    worker: Mapped[Worker] = relationship(back_populates="recognitions")
    diagnoses: Mapped[list[RecognitionDiagnosis]] = relationship(
        back_populates="recognition", cascade="all, delete-orphan"
    )


class RecognitionDiagnosis(Base):
    """An injury diagnosis named in the recognition: the split follows these (`003 §15`)."""

    __tablename__ = "recognition_diagnosis"
    __table_args__ = (UniqueConstraint("recognition_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recognition_id: Mapped[int] = mapped_column(ForeignKey("injury_recognition.id"))
    code: Mapped[str] = mapped_column(String(16))  # ICD-10
    name: Mapped[str] = mapped_column(String(128))

    recognition: Mapped[InjuryRecognition] = relationship(back_populates="diagnoses")


class Filing(Base):
    """备案: the insured place's approval for care elsewhere, with its validity window."""

    __tablename__ = "filing"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_from <= valid_to", name="valid_window"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    filing_no: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[FilingCategory] = mapped_column(_enum(FilingCategory, "filing_category"))
    covers_medical: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_rehab: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_device: Mapped[bool] = mapped_column(Boolean, default=False)
    dest_province: Mapped[str] = mapped_column(String(32))
    dest_city: Mapped[str] = mapped_column(String(32))
    dest_city_code: Mapped[str] = mapped_column(String(6))
    dest_institution_code: Mapped[str | None] = mapped_column(String(12))
    approved_on: Mapped[dt.date] = mapped_column(Date)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)  # None: until the conditions lapse (Jilin)
    status: Mapped[FilingStatus] = mapped_column(_enum(FilingStatus, "filing_status"), default=FilingStatus.ACTIVE)
    terminated_on: Mapped[dt.date | None] = mapped_column(Date)
    used_by_settlement: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)

    worker: Mapped[Worker] = relationship(back_populates="filings")


# --- the stay and its charges ------------------------------------------------------


class Stay(Base):
    """One admission (住院就医登记) of one worker at this institution."""

    __tablename__ = "stay"
    __table_args__ = (
        UniqueConstraint("institution_id", "admission_no"),
        CheckConstraint("discharged_on IS NULL OR admitted_on <= discharged_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    recognition_id: Mapped[int | None] = mapped_column(ForeignKey("injury_recognition.id"))
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filing.id"))
    profile: Mapped[str] = mapped_column(String(32))  # policy profile name, e.g. guangdong-intra
    settlement_kind: Mapped[str | None] = mapped_column(String(16))  # 本地工伤结算 / 省内异地就医 / 跨省异地就医
    care: Mapped[Care] = mapped_column(_enum(Care, "care"))
    admission_no: Mapped[str] = mapped_column(String(32))  # 住院号 (HIS)
    registration_no: Mapped[str | None] = mapped_column(String(32), unique=True)  # 就医登记号 (centre)
    dept: Mapped[str] = mapped_column(String(64))  # 科别
    bed: Mapped[str | None] = mapped_column(String(16))
    admitted_on: Mapped[dt.date] = mapped_column(Date)
    discharged_on: Mapped[dt.date | None] = mapped_column(Date)
    # 达到出院标准的日期, from the doctor's note: costs after it are the agency's to deduct (003 §15).
    discharge_criteria_met_on: Mapped[dt.date | None] = mapped_column(Date)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    third_party_liability: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[StayStatus] = mapped_column(_enum(StayStatus, "stay_status"), default=StayStatus.ADMITTED)
    registered_offline: Mapped[bool] = mapped_column(Boolean, default=False)  # re-check when the link is back
    # How the worker was identified: card, ecard, or typed (a reviewer, with a recorded reason).
    identified_by: Mapped[str] = mapped_column(String(8), default="card")
    identification_reason: Mapped[str | None] = mapped_column(Text)
    # A device fitting's 配置费用核付通知单 (001 §34), checked at the centre before fitting; its approved
    # devices are the stay's `fitted_device` rows.
    notice_no: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # Optimistic locking: two counters changing one stay at once cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    worker: Mapped[Worker] = relationship()
    diagnoses: Mapped[list[Diagnosis]] = relationship(back_populates="stay", cascade="all, delete-orphan")
    charge_lines: Mapped[list[ChargeLine]] = relationship(
        back_populates="stay", cascade="all, delete-orphan", foreign_keys="ChargeLine.stay_id"
    )


class FittedDevice(Base):
    """A device a fitting's notice approves (配置费用核付通知单, `001 §34`), as the centre gave it when
    the stay was admitted: the insured place's 最高支付限额 per unit and 最低使用年限 (`000 §29`,
    `001 §15`, `000 附件2`), which the settlement and 附件9-2 use, and the fitting date (配置时间)."""

    __tablename__ = "fitted_device"
    __table_args__ = (UniqueConstraint("stay_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    notice_no: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[Decimal] = mapped_column("quantity_e4", Quantity())  # approved
    max_pay: Mapped[Decimal] = mapped_column("max_pay_e4", UnitPrice())
    min_years: Mapped[int] = mapped_column(Integer)
    fitted_on: Mapped[dt.date] = mapped_column(Date)  # 配置时间: the fitting (admission) date


class Diagnosis(Base):
    """A diagnosis of the stay, marked injury / non-injury against the recognition."""

    __tablename__ = "diagnosis"
    __table_args__ = (UniqueConstraint("stay_id", "role", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    role: Mapped[DiagnosisRole] = mapped_column(_enum(DiagnosisRole, "diagnosis_role"))
    seq: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    injury: Mapped[bool] = mapped_column(Boolean)

    stay: Mapped[Stay] = relationship(back_populates="diagnoses")


class ChargeLine(Base):
    """One HIS charge line (费用明细) of the stay, with its 伤病分离 flag."""

    __tablename__ = "charge_line"
    __table_args__ = (
        UniqueConstraint("stay_id", "seq"),
        # Re-importing the same HIS file adds nothing twice.
        UniqueConstraint("stay_id", "import_fingerprint"),
        # The lines not yet at the centre (a few per open stay): what the deadline watch looks for
        # among a year's millions (`app.claims.watch`, `000 §30`).
        Index("ix_charge_line_not_uploaded", "stay_id", sqlite_where=text("uploaded_at IS NULL"),
              postgresql_where=text("uploaded_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    seq: Mapped[int] = mapped_column(Integer)
    his_code: Mapped[str] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(64))  # catalogue code once matched (`003 §27`)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[ChargeCategory | None] = mapped_column(_enum(ChargeCategory, "charge_category"))
    quantity: Mapped[Decimal] = mapped_column("quantity_e4", Quantity())
    unit_price: Mapped[Decimal] = mapped_column("unit_price_e4", UnitPrice())
    amount: Mapped[Decimal] = mapped_column("amount_fen", Money())
    charged_on: Mapped[dt.date] = mapped_column(Date)
    diagnosis_code: Mapped[str | None] = mapped_column(String(16))
    injury: Mapped[bool | None] = mapped_column(Boolean)  # None: follow the diagnosis
    injury_override_reason: Mapped[str | None] = mapped_column(Text)
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("charge_line.id"))
    dept: Mapped[str | None] = mapped_column(String(64))
    order_group: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[ChargeSource] = mapped_column(_enum(ChargeSource, "charge_source"))
    import_fingerprint: Mapped[str | None] = mapped_column(String(64))
    centre_line_no: Mapped[str | None] = mapped_column(String(32))
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # The HIS file the line came from (None: entered by hand).
    his_import_id: Mapped[int | None] = mapped_column(ForeignKey("his_import.id"))
    # An override of the 伤病分离 (injury set by hand against the diagnosis): who, and the
    # reviewer who approved it. Settlement waits while an override is unapproved.
    override_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    override_approved_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    # Outside the catalogue (自费): the clerk ticks that the patient was told (`003 §15`).
    patient_informed: Mapped[bool] = mapped_column(Boolean, default=False)

    stay: Mapped[Stay] = relationship(back_populates="charge_lines", foreign_keys=[stay_id])
    refund_of: Mapped[ChargeLine | None] = relationship(remote_side=[id])


class CatalogueItem(Base):
    """The centre's catalogue (工伤保险三目录), as last downloaded: what the preview prices by."""

    __tablename__ = "catalogue_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[ChargeCategory] = mapped_column(_enum(ChargeCategory, "charge_category"))
    unit: Mapped[str | None] = mapped_column(String(16))
    price_limit: Mapped[Decimal | None] = mapped_column("price_limit_e4", UnitPrice())
    max_pay: Mapped[Decimal | None] = mapped_column("max_pay_e4", UnitPrice())
    per_day: Mapped[bool] = mapped_column(Boolean, default=False)
    min_years: Mapped[int | None] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class HisCodeMap(Base):
    """The hospital's item code → the catalogue code (对照, `003 §27`), kept by the program.

    `catalogue_code` None: the clerk confirmed the item is outside the catalogue (自费).
    """

    __tablename__ = "his_code_map"

    id: Mapped[int] = mapped_column(primary_key=True)
    his_code: Mapped[str] = mapped_column(String(64), unique=True)
    his_name: Mapped[str | None] = mapped_column(String(128))
    catalogue_code: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)


class HisImport(Base):
    """One HIS export file imported into a stay (a re-import adds no line twice)."""

    __tablename__ = "his_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(8))  # csv / xlsx
    encoding: Mapped[str | None] = mapped_column(String(16))  # utf-8 / gbk (CSV only)
    mapping_name: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    added_count: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class FilingCheck(Base):
    """A filing check (备案核验) at admission or discharge: its inputs, its verdict. Never edited."""

    __tablename__ = "filing_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    stay_id: Mapped[int | None] = mapped_column(ForeignKey("stay.id"))  # None: admission refused
    stage: Mapped[str] = mapped_column(String(16))  # admission / discharge
    check_date: Mapped[dt.date] = mapped_column(Date)
    allowed: Mapped[bool] = mapped_column(Boolean)
    settlement_kind: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # code, blocking, message, source
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # what was judged (person, filing, stay)
    # counter: judged here on the centre's person data; offline: on stored data, re-check due.
    basis: Mapped[str] = mapped_column(String(16), default="counter")
    checked_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class FullPaymentReceipt(Base):
    """全额垫付: the centre was down at discharge, the worker paid in full (`003 §17`).

    The insured place reimburses the worker; the fund pays the hospital nothing for the stay. The
    stay waits for 补登记 (its settlement information, marked as paid in full, sent to the centre;
    in Guangdong due the day the fault clears, `fault_cleared_on`); `backfilled_at` is when the
    centre took it. Nothing is refunded at the window and the stay is never settled directly.

    `settlement_id` is set only by the old flow (before issue 23), which settled the stay at 补登记
    and refunded the fund's part at the window (`docs/full-payment.md`).
    """

    __tablename__ = "full_payment_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(32), unique=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    amount: Mapped[Decimal] = mapped_column("amount_fen", Money())
    issued_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlement.id"))
    backfilled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    fault_cleared_on: Mapped[dt.date | None] = mapped_column(Date())  # the day the link came back (003 §17)
    backfilled_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))  # who did the 补登记


# --- settlements -------------------------------------------------------------------


class Settlement(Base):
    """A discharge settlement as the centre returned it, or the cancellation of one.

    Immutable (see `app.db.guards`). A cancellation negates the amounts of the
    settlement it names in `reverses_id`; a settlement is cancelled at most once.
    """

    __tablename__ = "settlement"
    __table_args__ = (
        CheckConstraint("total_fen = fund_total_fen + personal_total_fen", name="total_is_fund_plus_personal"),
        CheckConstraint(
            "(kind = 'cancellation') = (reverses_id IS NOT NULL)", name="cancellation_names_original"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"))
    kind: Mapped[SettlementKind] = mapped_column(_enum(SettlementKind, "settlement_kind_type"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("settlement.id"), unique=True)
    centre_settlement_id: Mapped[str] = mapped_column(String(64))
    msgid: Mapped[str] = mapped_column(String(32), unique=True)
    settlement_kind: Mapped[str] = mapped_column(String(16))  # 本地工伤结算 / 省内异地就医 / 跨省异地就医
    settled_on: Mapped[dt.date] = mapped_column(Date)  # the date the monthly claim counts it
    settled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    total: Mapped[Decimal] = mapped_column("total_fen", Money())
    fund_total: Mapped[Decimal] = mapped_column("fund_total_fen", Money())
    personal_total: Mapped[Decimal] = mapped_column("personal_total_fen", Money())
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"))  # 收款人 on the slip
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))  # 审核人 on the slip
    # 待遇类别 / 业务类别 as the centre returned them (the slip prints them, `003 附表3`).
    benefit_category: Mapped[str | None] = mapped_column(String(32))
    business_category: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)  # why it was cancelled
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)

    matrix: Mapped[list[SettlementMatrixCell]] = relationship(back_populates="settlement")
    lines: Mapped[list[SettlementLine]] = relationship(back_populates="settlement")


class SettlementMatrixCell(Base):
    """One cell of the slip's money table: bucket (row) × category (column)."""

    __tablename__ = "settlement_matrix_cell"
    __table_args__ = (UniqueConstraint("settlement_id", "bucket", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"))
    bucket: Mapped[Bucket] = mapped_column(_enum(Bucket, "bucket"))
    category: Mapped[ChargeCategory] = mapped_column(_enum(ChargeCategory, "charge_category"))
    amount: Mapped[Decimal] = mapped_column("amount_fen", Money())

    settlement: Mapped[Settlement] = relationship(back_populates="matrix")


class SettlementLine(Base):
    """How one charge line was settled: its bucket and its fund / personal parts."""

    __tablename__ = "settlement_line"
    __table_args__ = (
        UniqueConstraint("settlement_id", "charge_line_id"),
        CheckConstraint("amount_fen = fund_fen + personal_fen", name="amount_is_fund_plus_personal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"))
    charge_line_id: Mapped[int] = mapped_column(ForeignKey("charge_line.id"))
    bucket: Mapped[Bucket] = mapped_column(_enum(Bucket, "bucket"))
    category: Mapped[ChargeCategory] = mapped_column(_enum(ChargeCategory, "charge_category"))
    amount: Mapped[Decimal] = mapped_column("amount_fen", Money())
    fund: Mapped[Decimal] = mapped_column("fund_fen", Money())
    personal: Mapped[Decimal] = mapped_column("personal_fen", Money())
    reason: Mapped[str] = mapped_column(Text)

    settlement: Mapped[Settlement] = relationship(back_populates="lines")


class PrintLog(Base):
    """Every slip printed: who, when, on which printer, and which copy it was."""

    __tablename__ = "print_log"
    # Two counters printing the same slip at once cannot both print 补打 n.
    __table_args__ = (UniqueConstraint("settlement_id", "reprint_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"))
    kind: Mapped[PrintKind] = mapped_column(_enum(PrintKind, "print_kind"))
    reprint_no: Mapped[int] = mapped_column(Integer, default=0)  # 补打 count
    printer: Mapped[str | None] = mapped_column(String(128))
    archive_path: Mapped[str | None] = mapped_column(Text)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    printed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


# --- monthly claims ----------------------------------------------------------------


class MonthlyClaim(Base):
    """月度结算申请: one month's settlements claimed from one centre, as one batch."""

    __tablename__ = "monthly_claim"
    __table_args__ = (UniqueConstraint("month", "centre_code", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_no: Mapped[str] = mapped_column(String(32), unique=True)  # 结算批次
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    centre_code: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[ClaimStatus] = mapped_column(_enum(ClaimStatus, "claim_status"), default=ClaimStatus.DRAFT)
    person_times: Mapped[int] = mapped_column(Integer, default=0)  # 人次
    total: Mapped[Decimal] = mapped_column("total_fen", Money())
    fund_total: Mapped[Decimal] = mapped_column("fund_total_fen", Money())
    personal_total: Mapped[Decimal] = mapped_column("personal_total_fen", Money())
    deduction_total: Mapped[Decimal] = mapped_column("deduction_total_fen", Money(), default=Decimal("0.00"))
    built_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    built_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # 结算机构名称 on the forms' header (the agency that audits and pays the claim).
    agency_name: Mapped[str | None] = mapped_column(String(128))
    profile: Mapped[str | None] = mapped_column(String(32))  # whose deadlines apply (claims.profile)
    chunks: Mapped[int] = mapped_column(Integer, default=0)  # upload chunks in all, once known
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)  # chunks the centre has received
    centre_status: Mapped[str | None] = mapped_column(String(16))  # receiving / submitted / audited

    entries: Mapped[list[ClaimEntry]] = relationship(back_populates="claim")


class ClaimEntry(Base):
    """One settlement (or cancellation) in a claim. A settlement is in at most one claim."""

    __tablename__ = "claim_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("monthly_claim.id"))
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    total: Mapped[Decimal] = mapped_column("total_fen", Money())
    fund_total: Mapped[Decimal] = mapped_column("fund_total_fen", Money())
    personal_total: Mapped[Decimal] = mapped_column("personal_total_fen", Money())
    deduction: Mapped[Decimal] = mapped_column("deduction_fen", Money(), default=Decimal("0.00"))
    deduction_reason: Mapped[str | None] = mapped_column(Text)

    claim: Mapped[MonthlyClaim] = relationship(back_populates="entries")


class ClaimDeduction(Base):
    """扣款: what the agency deducted from one claimed settlement, per charge line where it named one.

    `line_no` is the centre's line number (the charge line's seq); 0 when the deduction names no
    line. The dispute window runs from `notified_on`, the day the agency pushed its audit as the centre
    reports it (`003 §20`: 10 working days), not the day the counter fetched it; `dispute_due` is None
    where the seed sets no window (`002 经办规程 §23`).
    """

    __tablename__ = "claim_deduction"
    __table_args__ = (UniqueConstraint("claim_entry_id", "line_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_entry_id: Mapped[int] = mapped_column(ForeignKey("claim_entry.id"))
    line_no: Mapped[int] = mapped_column(Integer, default=0)
    charge_line_id: Mapped[int | None] = mapped_column(ForeignKey("charge_line.id"))
    item_code: Mapped[str | None] = mapped_column(String(64))
    item_name: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column("amount_fen", Money())
    reason: Mapped[str] = mapped_column(Text)
    notified_on: Mapped[dt.date] = mapped_column(Date)
    dispute_due: Mapped[dt.date | None] = mapped_column(Date)
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class DeductionDispute(Base):
    """异议: the hospital's dispute of one deduction, with the file names of its evidence (`003 §20`)."""

    __tablename__ = "deduction_dispute"

    id: Mapped[int] = mapped_column(primary_key=True)
    deduction_id: Mapped[int] = mapped_column(ForeignKey("claim_deduction.id"), unique=True)
    statement: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON)
    filed_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    filed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # Sent to the agency as 3303 (`003 §20`: online): the files' SHA-256, in `evidence`'s order.
    evidence_sha256: Mapped[list[str] | None] = mapped_column(JSON)
    # pending (not yet accepted: unsent, unknown or unreachable), submitted (the centre accepted it),
    # refused (the centre refused it: `refusal` says why), local (no window in this region: not sent).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    refusal: Mapped[str | None] = mapped_column(Text)
    centre_dispute_id: Mapped[str | None] = mapped_column(String(40))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # The agency's answer (3302): upheld (异议成立) / rejected (异议不成立), its text and date.
    answer_status: Mapped[str | None] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_on: Mapped[dt.date | None] = mapped_column(Date)


class RehabPlan(Base):
    """康复方案 of a rehab stay (`000 §30`): goes up to the centre before the discharge settlement. The
    document stays in the hospital's records; kept here: its reference, a summary and its date."""

    __tablename__ = "rehab_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"), index=True)
    document_no: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    drawn_up: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # the centre accepted it (2307)


class MedicalRecordCompletion(Base):
    """病案首页补齐 of a discharge settlement (`003 §16`: 病案首页可在7天内补齐): who marked it and when.
    One row per settlement at most; the settlement itself stays immutable. `completed_by` is None only
    for the settlements migration 0017 found long past their 7 days (handled before the counter kept
    this record)."""

    __tablename__ = "medical_record_completion"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    completed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    counter_name: Mapped[str | None] = mapped_column(String(64))


# --- pre-audit (预审, issue 10) ---------------------------------------------------------


class PreauditAcknowledgement(Base):
    """At discharge, the clerk's acknowledgement of one pre-audit finding settled as it stands:
    who, when and why. `seq` 0 is a finding about the whole stay. A finding stays acknowledged
    while its rule, line and amount at risk are the same; a changed amount asks again."""

    __tablename__ = "preaudit_acknowledgement"

    id: Mapped[int] = mapped_column(primary_key=True)
    stay_id: Mapped[int] = mapped_column(ForeignKey("stay.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    amount_at_risk: Mapped[Decimal] = mapped_column("amount_at_risk_fen", Money())
    message: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)  # the clerk's why (e.g. 已与医生核实)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"))
    acknowledged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


class PreauditPrediction(Base):
    """What the pre-audit predicted the agency would deduct from one claimed settlement, kept from
    the claim's upload so that the agency's answer can be compared with it (precision and recall
    per rule). `seq` as the deductions' `line_no`: the charge line, 0 for the whole stay."""

    __tablename__ = "preaudit_prediction"
    __table_args__ = (UniqueConstraint("claim_entry_id", "seq", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_entry_id: Mapped[int] = mapped_column(ForeignKey("claim_entry.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    rule: Mapped[str] = mapped_column(String(40))
    amount_at_risk: Mapped[Decimal] = mapped_column("amount_at_risk_fen", Money())
    message: Mapped[str] = mapped_column(Text)
    predicted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)


# --- calls to the centre -----------------------------------------------------------


class OutboxEntry(Base):
    """A state-changing call to the centre, written before it is sent.

    `seq` is the database sequence number the `msgid` was built from (issue order across
    every counter sharing the database). An entry left `pending`/`sent` (timeout, dropped
    reply, crash) is resolved by querying the centre by `msgid`, then completed, voided or
    reversed (冲正): never applied twice (`app.centre.outbox`).
    """

    __tablename__ = "outbox_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    msgid: Mapped[str] = mapped_column(String(32), unique=True)
    txn_code: Mapped[str] = mapped_column(String(8))
    operation: Mapped[str] = mapped_column(String(32))  # domain name, e.g. settlement (app.centre.gateway)
    counter_name: Mapped[str] = mapped_column(String(64))
    stay_id: Mapped[int | None] = mapped_column(ForeignKey("stay.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState, "outbox_state"), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    reverses_msgid: Mapped[str | None] = mapped_column(String(32))
    # SHA-256 of the request as the centre receives it (`Centre.fingerprint`): the outcome query must
    # return the same before a result found by msgid is applied or the call reversed (issue 21).
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    centre_ref: Mapped[str | None] = mapped_column(String(64))  # the centre's reference of the call
    # How it ended: reply, query (resolved after an unknown outcome), voided, reversed.
    resolution: Mapped[str | None] = mapped_column(String(16))
    # While a counter waits for the reply, other counters' resolvers leave the entry alone.
    lease_owner: Mapped[str | None] = mapped_column(String(128))  # counter@host:pid
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


# The msgid sequence on PostgreSQL (migration 0003 creates it).
MSGID_SEQUENCE = Sequence("centre_msgid_seq", metadata=Base.metadata)


class MsgidCounter(Base):
    """The msgid sequence on SQLite (one row, bumped inside the writing transaction).

    PostgreSQL uses the SEQUENCE `centre_msgid_seq` instead, which never blocks other
    counters; the table exists there too, unused, so both schemas are the same.
    """

    __tablename__ = "centre_msgid_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class CentreCallLog(Base):
    """Every call to the centre and its outcome (like hsa-his `insure_function_log`).

    Written after each exchange, whatever happened: reply, refusal, timeout, unreachable
    centre, malformed reply. Never updated.
    """

    __tablename__ = "centre_call_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    msgid: Mapped[str] = mapped_column(String(32), index=True)
    txn_code: Mapped[str] = mapped_column(String(8))
    operation: Mapped[str] = mapped_column(String(32))
    counter_name: Mapped[str] = mapped_column(String(64))
    operator_code: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    # ok, refused, unreachable, timeout, dropped, malformed
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(8))
    message: Mapped[str | None] = mapped_column(Text)
    centre_ref: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Reconciliation(Base):
    """One day-end reconciliation (对账) with the centre: both sides' totals and whether they agree.

    The totals (3201) are compared first; the details (3202) are fetched only when the totals
    differ (or when asked), and each difference is kept for a reviewer."""

    __tablename__ = "reconciliation"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)
    counter_name: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    run_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # {"settlements": {"count", "total", "fund_total", "personal_total"}, "cancellations": {...}}
    centre_totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    counter_totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    details_compared: Mapped[bool] = mapped_column(Boolean, default=False)
    agrees: Mapped[bool] = mapped_column(Boolean)

    differences: Mapped[list[ReconciliationDifference]] = relationship(back_populates="reconciliation")


class ReconciliationDifference(Base):
    """One transaction the two sides see differently, until a reviewer has dealt with it."""

    __tablename__ = "reconciliation_difference"

    id: Mapped[int] = mapped_column(primary_key=True)
    reconciliation_id: Mapped[int] = mapped_column(ForeignKey("reconciliation.id"), index=True)
    # only_at_centre, only_here, amount_differs, not_booked
    kind: Mapped[str] = mapped_column(String(16))
    transaction_kind: Mapped[str] = mapped_column(String(16))  # settlement, cancellation
    msgid: Mapped[str] = mapped_column(String(32))
    stay_id: Mapped[int | None] = mapped_column(ForeignKey("stay.id"))
    registration_no: Mapped[str | None] = mapped_column(String(64))
    centre_amounts: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # total, fund_total, personal_total
    counter_amounts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_note: Mapped[str | None] = mapped_column(Text)

    reconciliation: Mapped[Reconciliation] = relationship(back_populates="differences")


class RestoreCheck(Base):
    """A `db restore`'s reconciliation with the centre (issue 21 B2): what the centre holds for this
    institution since the backup's time, against the restored books.

    While the newest check is `pending` (not yet compared: the centre not reached) or `differences`
    (not yet seen by a reviewer), admission and settlement are refused; a reviewer's acknowledgement
    (audited) lets work go on. The differences stay: a 住院号 the centre registered and the books lack
    is never admitted again (it would be a second registration, and a second settlement, of one stay)."""

    __tablename__ = "restore_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    restored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utc_now)
    backup_file: Mapped[str] = mapped_column(String(512))
    since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # the newest call the backup knew of
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, clear, differences, acknowledged
    checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # [{"kind", "registration_no", "admission_no", "settlement_id", "centre", "counter", "message"}]
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)
