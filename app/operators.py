"""Operators, their roles, logins, and the first start of a counter.

Passwords are hashed with Argon2id (argon2-cffi: memory-hard, salted, with its
parameters in the hash so they can be raised later). Roles are enforced here, in
the service layer, not only by hiding buttons: a cashier calling a reviewer's
service is refused by `require`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import Institution, Operator, Role, utc_now
from app.errors import AuthenticationError, PermissionDenied, WiCounterError
from app.institution import InstitutionInfo

log = logging.getLogger(__name__)

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=5)
_LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")


class Permission(enum.StrEnum):
    ADMIT = "admit"  # 入院登记
    IMPORT_CHARGES = "import_charges"  # 导入费用
    CLASSIFY = "classify"  # 伤病分离
    SETTLE = "settle"  # 出院结算
    PRINT_SLIP = "print_slip"  # 打印结算单
    ACKNOWLEDGE_PREAUDIT = "acknowledge_preaudit"  # 出院结算前确认预审提示
    OVERRIDE_CLASSIFICATION = "override_classification"  # 审核：改判伤病分离
    CANCEL_SETTLEMENT = "cancel_settlement"  # 审核：撤销结算
    MANUAL_IDENTIFICATION = "manual_identification"  # 审核：手工输入社会保障号码
    CORRECT_REGISTRATION = "correct_registration"  # 审核：更正或撤销入院登记
    BUILD_CLAIM = "build_claim"  # 月度结算
    RECONCILE = "reconcile"  # 审核：处理对账差异
    VIEW_OTHERS_DAY_END = "view_others_day_end"  # 审核：查看他人的日结单
    MANAGE_OPERATORS = "manage_operators"  # 管理操作员
    CHANGE_SETTINGS = "change_settings"  # 修改设置

    @property
    def label(self) -> str:
        return _PERMISSION_LABELS[self]


_PERMISSION_LABELS = {
    Permission.ADMIT: "入院登记",
    Permission.IMPORT_CHARGES: "导入费用",
    Permission.CLASSIFY: "伤病分离",
    Permission.SETTLE: "出院结算",
    Permission.PRINT_SLIP: "打印结算单",
    Permission.ACKNOWLEDGE_PREAUDIT: "确认预审提示",
    Permission.OVERRIDE_CLASSIFICATION: "改判伤病分离",
    Permission.CANCEL_SETTLEMENT: "撤销结算",
    Permission.MANUAL_IDENTIFICATION: "手工输入社会保障号码",
    Permission.CORRECT_REGISTRATION: "更正或撤销入院登记",
    Permission.BUILD_CLAIM: "月度结算申报",
    Permission.RECONCILE: "处理对账差异",
    Permission.VIEW_OTHERS_DAY_END: "查看他人的日结单",
    Permission.MANAGE_OPERATORS: "管理操作员",
    Permission.CHANGE_SETTINGS: "修改设置",
}

# Cashiers settle, so they acknowledge the pre-audit's findings before settling (each one audited).
_CASHIER = frozenset(
    {Permission.ADMIT, Permission.IMPORT_CHARGES, Permission.CLASSIFY, Permission.SETTLE, Permission.PRINT_SLIP,
     Permission.ACKNOWLEDGE_PREAUDIT}
)
_REVIEWER = _CASHIER | {
    Permission.OVERRIDE_CLASSIFICATION,
    Permission.CANCEL_SETTLEMENT,
    Permission.MANUAL_IDENTIFICATION,
    Permission.CORRECT_REGISTRATION,
    Permission.BUILD_CLAIM,
    Permission.RECONCILE,
    Permission.VIEW_OTHERS_DAY_END,
}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CASHIER: _CASHIER,
    Role.REVIEWER: _REVIEWER,
    # The administrator runs the site (operators, settings) and can stand in for anyone.
    Role.ADMIN: _REVIEWER | {Permission.MANAGE_OPERATORS, Permission.CHANGE_SETTINGS},
}


# Minted once per process: an operator object proves a password was checked in *this* process.
# Only `authenticate` (and the first run, which sets the administrator's password) mints proofs, so
# code that builds an operator from a bare login name — as the command line once did — is refused
# by `require` instead of acting in that person's name.
_PROOF_KEY = secrets.token_bytes(32)

NOT_SIGNED_IN = "操作员身份未经密码验证，操作未执行。请先登录（输入本人的密码）后再试。"


def _proof(operator_id: int, login: str, role: Role) -> bytes:
    return hmac.new(_PROOF_KEY, f"{operator_id}\x00{login}\x00{role.value}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class OperatorInfo:
    """An operator, detached from any database session (safe to pass to the UI).

    Services act only for an operator who signed in: `authenticated` is true only for the objects
    `authenticate` returns (their `proof` binds id, login and role); one built by hand, or with its
    role or login changed, is refused by `require`."""

    id: int
    login: str
    display_name: str
    role: Role
    proof: bytes = field(default=b"", repr=False, compare=False)

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def authenticated(self) -> bool:
        return hmac.compare_digest(self.proof, _proof(self.id, self.login, self.role))

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def _info(operator: Operator) -> OperatorInfo:
    """The operator as a record to show: it carries no proof of a login."""
    return OperatorInfo(operator.id, operator.login, operator.display_name, operator.role)


def _signed_in(operator: Operator) -> OperatorInfo:
    """The operator whose password was just checked (the only way to an authenticated object)."""
    info = _info(operator)
    return replace(info, proof=_proof(info.id, info.login, info.role))


def require_signed_in(actor: OperatorInfo) -> None:
    if not isinstance(actor, OperatorInfo) or not actor.authenticated:
        raise AuthenticationError(NOT_SIGNED_IN)


def require(actor: OperatorInfo, permission: Permission) -> None:
    """The service's check: the operator signed in with a password, and the role allows the action."""
    require_signed_in(actor)
    if not actor.can(permission):
        raise PermissionDenied(f"{actor.role_label}无权执行“{permission.label}”，请联系审核员或管理员。")


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WiCounterError(f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    if password.isdigit() and len(set(password)) == 1:
        raise WiCounterError("密码过于简单")


def _check_new_operator(session: Session, login: str, display_name: str, password: str) -> None:
    if not _LOGIN_PATTERN.fullmatch(login):
        raise WiCounterError("登录名应为 2–32 位字母、数字、下划线、点或短横线")
    if not display_name.strip():
        raise WiCounterError("请填写姓名（打印在结算单的收款人、制单人栏）")
    check_password_policy(password)
    if session.scalar(select(func.count()).select_from(Operator).where(Operator.login == login)):
        raise WiCounterError(f"登录名 {login} 已被使用")


def needs_first_run(session: Session) -> bool:
    """True until the institution and its first administrator exist."""
    has_admin = session.scalar(select(func.count()).select_from(Operator).where(Operator.role == Role.ADMIN))
    has_institution = session.scalar(select(func.count()).select_from(Institution))
    return not (has_admin and has_institution)


def current_institution(session: Session) -> Institution | None:
    return session.scalars(select(Institution).order_by(Institution.id).limit(1)).first()


def institution_info(session: Session) -> InstitutionInfo | None:
    """The institution, detached from the session (safe to hand to the UI)."""
    institution = current_institution(session)
    if institution is None:
        return None
    return InstitutionInfo(
        code=institution.code,
        name=institution.name,
        province=institution.province,
        city=institution.city,
        city_code=institution.city_code,
        level=institution.level,
        direct_settlement=institution.direct_settlement,
    )


def complete_first_run(
    session: Session,
    institution: InstitutionInfo,
    admin_login: str,
    admin_name: str,
    password: str,
    counter_name: str,
) -> OperatorInfo:
    """Create the institution and the first administrator, once. Caller commits."""
    if not needs_first_run(session):
        raise WiCounterError("本窗口已完成初始设置")
    problems = institution.problems()
    if problems:
        raise WiCounterError("；".join(problems))
    _check_new_operator(session, admin_login, admin_name, password)
    if current_institution(session) is None:
        session.add(
            Institution(
                code=institution.code,
                name=institution.name.strip(),
                province=institution.province.strip(),
                city=institution.city.strip(),
                city_code=institution.city_code,
                level=institution.level.strip(),
                direct_settlement=institution.direct_settlement,
            )
        )
    admin = Operator(
        login=admin_login, display_name=admin_name.strip(), role=Role.ADMIN, password_hash=_hasher.hash(password)
    )
    session.add(admin)
    session.flush()
    audit.record(
        session, "first_run", operator_id=admin.id, counter_name=counter_name,
        entity_type="institution", entity_id=institution.code,
        detail={"institution": institution.name, "admin": admin_login},
    )
    return _signed_in(admin)  # the administrator has just chosen the password: signed in


def create_operator(
    session: Session,
    actor: OperatorInfo,
    login: str,
    display_name: str,
    role: Role,
    password: str,
    counter_name: str,
) -> OperatorInfo:
    require(actor, Permission.MANAGE_OPERATORS)
    _check_new_operator(session, login, display_name, password)
    operator = Operator(
        login=login, display_name=display_name.strip(), role=role, password_hash=_hasher.hash(password)
    )
    session.add(operator)
    session.flush()
    audit.record(
        session, "operator_created", operator_id=actor.id, counter_name=counter_name,
        entity_type="operator", entity_id=operator.id, detail={"login": login, "role": role.value},
    )
    return _info(operator)


def list_operators(session: Session) -> list[OperatorInfo]:
    operators = session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.login))
    return [_info(o) for o in operators]


_LOGIN_REFUSED = "登录名或密码错误"


def _record_refusal(session: Session, operator_id: int | None, login: str, counter_name: str,
                    channel: str = "window") -> None:
    """Count the failure and audit it in a transaction of its own.

    The caller's transaction is rolled back by the error `authenticate` raises; the
    failure count (and so the lockout) and its audit event must survive that.
    """
    with Session(bind=session.get_bind()) as independent, independent.begin():
        operator = independent.get(Operator, operator_id) if operator_id is not None else None
        if operator is not None:
            operator.failed_logins += 1
            if operator.failed_logins >= MAX_FAILED_LOGINS:
                operator.locked_until = utc_now() + LOCKOUT
                operator.failed_logins = 0
        audit.record(independent, "login_refused", operator_id=operator_id, counter_name=counter_name,
                     detail={"login": login, **({"channel": channel} if channel != "window" else {})})


def authenticate(session: Session, login: str, password: str, counter_name: str,
                 channel: str = "window") -> OperatorInfo:
    """Check a login. Failures are counted (and committed) whatever the caller does; after
    too many the account is locked for a while — the same count for the window and the command
    line (`channel` "cli"). On success the caller commits."""
    operator = session.scalars(select(Operator).where(Operator.login == login)).first()
    now = utc_now()
    if operator is None or not operator.active:
        # Hash anyway so that a missing login takes as long as a wrong password.
        _hasher.hash(password)
        _record_refusal(session, None, login, counter_name, channel)
        raise AuthenticationError(_LOGIN_REFUSED)
    if operator.locked_until is not None and operator.locked_until > now:
        minutes = max(1, int((operator.locked_until - now).total_seconds() // 60) + 1)
        raise AuthenticationError(f"连续输错密码次数过多，账号已锁定，请 {minutes} 分钟后再试或联系管理员")
    try:
        _hasher.verify(operator.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        operator_id = operator.id
        session.rollback()  # release our read before the independent write (SQLite allows one writer)
        _record_refusal(session, operator_id, login, counter_name, channel)
        raise AuthenticationError(_LOGIN_REFUSED) from None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    audit.record(session, "login", operator_id=operator.id, counter_name=counter_name,
                 detail={"channel": channel} if channel != "window" else None)
    log.info("操作员 %s 登录", operator.login)
    return _signed_in(operator)


def change_password(session: Session, actor: OperatorInfo, old_password: str, new_password: str, counter_name: str) -> None:
    operator = session.get(Operator, actor.id)
    if operator is None:
        raise AuthenticationError(_LOGIN_REFUSED)
    try:
        _hasher.verify(operator.password_hash, old_password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise AuthenticationError("原密码错误") from None
    check_password_policy(new_password)
    operator.password_hash = _hasher.hash(new_password)
    audit.record(session, "password_changed", operator_id=actor.id, counter_name=counter_name)


def _operator_named(session: Session, login: str) -> Operator:
    operator = session.scalars(select(Operator).where(Operator.login == login)).first()
    if operator is None:
        raise WiCounterError(f"没有登录名为 {login} 的操作员")
    return operator


def set_operator_active(session: Session, actor: OperatorInfo, login: str, active: bool,
                        counter_name: str) -> OperatorInfo:
    """An administrator disables (or enables again) an operator; a disabled one cannot log in anywhere."""
    require(actor, Permission.MANAGE_OPERATORS)
    operator = _operator_named(session, login)
    if not active:
        if operator.id == actor.id:
            raise WiCounterError("不能停用自己的账号；请由另一名管理员停用")
        if operator.role is Role.ADMIN and operator.active:
            admins = session.scalar(select(func.count()).select_from(Operator).where(
                Operator.role == Role.ADMIN, Operator.active.is_(True))) or 0
            if admins <= 1:
                raise WiCounterError("不能停用唯一在用的管理员；请先创建另一名管理员")
    if operator.active != active:
        operator.active = active
        audit.record(session, "operator_enabled" if active else "operator_disabled", operator_id=actor.id,
                     counter_name=counter_name, entity_type="operator", entity_id=operator.id,
                     detail={"login": operator.login})
    return _info(operator)


def reset_password(session: Session, actor: OperatorInfo, login: str, new_password: str, counter_name: str) -> None:
    """An administrator sets a new password for an operator (who forgot it, or was locked out); audited."""
    require(actor, Permission.MANAGE_OPERATORS)
    operator = _operator_named(session, login)
    check_password_policy(new_password)
    operator.password_hash = _hasher.hash(new_password)
    operator.failed_logins = 0
    operator.locked_until = None
    audit.record(session, "password_reset", operator_id=actor.id, counter_name=counter_name,
                 entity_type="operator", entity_id=operator.id, detail={"login": operator.login})
