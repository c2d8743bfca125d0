"""The audit trail: every significant action, append-only and hash-chained with a key.

Each event's hash covers its content and the previous event's hash, so editing or
deleting any past event breaks the chain from that point on (`verify_chain`). Since
migration 0012 the hash is an HMAC-SHA256 with the institution's audit key, kept in the
OS keyring of the counters (`app.secret_store.AUDIT_KEY`), never in the database: someone
with only the database can no longer edit an event and recompute every later hash, nor
append a forged event. `hash_scheme` marks each event's kind, so a trail begun before
keying still verifies as the old SHA-256 chain up to where keying started
(`audit_head.keyed_from`); after that point an unkeyed event is a problem.

The chain's head (`audit_head`: last event, hash, count, where keying started) is moved
with every append and carries its own HMAC, so deleting the newest events and rewriting
the head to match shows as well (`verify_trail`, `wi-counter audit verify`). Database
triggers (migration 0008) refuse UPDATE and DELETE.

The key is made on first use (the first event of a trail not yet keyed). A counter whose
keyring lacks it once the trail is keyed does not make a new one (the counters would then
hold different keys): it writes the event unsigned (`sha256`), warns in the log, and
`audit verify`, `wi-counter secret status` and the window's status bar say the key is missing.
A trail replaced by an older copy of itself (trail and signed head together) is not found from
the database alone: `audit verify` anchors the head in the config folder (`note_anchor`) and
compares later trails with it (`check_anchor`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.business_date import business_today
from app.db.models import AuditEvent, AuditHead, utc_now
from app.errors import NoSecureStoreError
from app.masking import mask_ids_in_text
from app.secret_store import AUDIT_KEY, get_secret, set_secret

log = logging.getLogger(__name__)

SHA256 = "sha256"  # the old unkeyed chain (also NULL: events written before migration 0012)
HMAC_SHA256 = "hmac-sha256"

AUDIT_KEY_MISSING = (
    "本机缺少审计密钥：新的审计记录无法签名，无法证明其未被改写。"
    "请管理员从本机构的密钥备份中恢复审计密钥（所有窗口使用同一把密钥），恢复前记下的记录将一直标为未签名。"
)
AUDIT_KEY_RESTORE_HINT = "恢复方法 / to restore: wi-counter secret set audit-key（管理员 / an administrator）"

GENESIS_HASH = "0" * 64


def _canonical(
    occurred_at: dt.datetime,
    operator_id: int | None,
    counter_name: str,
    action: str,
    entity_type: str | None,
    entity_id: str | None,
    detail: dict[str, Any],
    prev_hash: str,
    scheme: str | None = None,
) -> bytes:
    payload: dict[str, Any] = {
        "at": occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "operator": operator_id,
        "counter": counter_name,
        "action": action,
        "entity": [entity_type, entity_id],
        "detail": detail,
        "prev": prev_hash,
    }
    if scheme == HMAC_SHA256:  # the marker is signed too; the old chain's payload stays as it was
        payload["scheme"] = scheme
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def canonical_bytes(event: AuditEvent) -> bytes:
    """What an event's hash covers (its content, its predecessor's hash and, when keyed, its marker)."""
    return _canonical(
        event.occurred_at, event.operator_id, event.counter_name, event.action,
        event.entity_type, event.entity_id, event.detail, event.prev_hash, event.hash_scheme,
    )


def _digest(scheme: str, key: bytes | None, message: bytes) -> str:
    if scheme == HMAC_SHA256:
        assert key is not None
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


def _head_mac(key: bytes, last_event_id: int | None, last_hash: str, event_count: int, keyed_from: int | None) -> str:
    message = json.dumps({"head": [last_event_id, last_hash, event_count, keyed_from]}, separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def load_key() -> bytes | None:
    """The audit key from the OS keyring, or None when it is not there (or there is no secure keyring)."""
    try:
        value = get_secret(AUDIT_KEY)
    except NoSecureStoreError:
        return None
    return value.encode() if value else None


def _key_for_writing(trail_is_keyed: bool) -> bytes | None:
    """The key for a new event; made on first use. None (said in the log) when the keyed trail's key is missing."""
    key = load_key()
    if key is not None:
        return key
    if trail_is_keyed:
        # A new key now would give this counter a key the others lack: the key must be restored instead.
        log.warning("%s", AUDIT_KEY_MISSING)
        return None
    try:
        set_secret(AUDIT_KEY, secrets.token_hex(32))
    except NoSecureStoreError:
        log.warning("本机没有可用的安全密钥存储，审计日志无法以审计密钥签名；请配置操作系统密钥环。")
        return None
    log.info("已生成本机构的审计密钥并保存到密钥环；请为其做好备份（所有窗口须使用同一把密钥）。")
    return load_key()


def trail_key_missing(session: Session) -> bool:
    """True when the trail is keyed but this counter's keyring lacks the key (the window's status bar)."""
    keyed_from = session.scalar(select(AuditHead.keyed_from).where(AuditHead.id == 1))
    return keyed_from is not None and load_key() is None


def record(
    session: Session,
    action: str,
    *,
    operator_id: int | None,
    counter_name: str,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the action)."""
    # Details are for reviewers and auditors; ID numbers in them are masked like in the logs.
    clean_detail = json.loads(mask_ids_in_text(json.dumps(detail or {}, ensure_ascii=False, default=str)))
    # Move the head first, by a write: it takes PostgreSQL's row lock and SQLite's write lock
    # (pysqlite runs a lone SELECT outside any transaction), so the predecessor read below is
    # the latest and appends from several connections follow one another instead of forking.
    moved = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(event_count=AuditHead.event_count + 1)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:  # a database made without the migrations (tests' create_all)
        session.add(AuditHead(id=1, last_event_id=None, last_hash=GENESIS_HASH, event_count=1))
        session.flush()
    event_count, keyed_from = session.execute(
        select(AuditHead.event_count, AuditHead.keyed_from).where(AuditHead.id == 1)
    ).one()
    previous = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev_hash = previous.hash if previous is not None else GENESIS_HASH
    key = _key_for_writing(trail_is_keyed=keyed_from is not None)
    scheme = HMAC_SHA256 if key is not None else SHA256
    occurred_at = utc_now()
    entity_key = None if entity_id is None else str(entity_id)
    digest = _digest(scheme, key, _canonical(
        occurred_at, operator_id, counter_name, action, entity_type, entity_key, clean_detail, prev_hash, scheme,
    ))
    event = AuditEvent(
        occurred_at=occurred_at,
        operator_id=operator_id,
        counter_name=counter_name,
        action=action,
        entity_type=entity_type,
        entity_id=entity_key,
        detail=clean_detail,
        prev_hash=prev_hash,
        hash=digest,
        hash_scheme=scheme,
    )
    session.add(event)
    session.flush()
    if key is not None and keyed_from is None:
        keyed_from = event.id
    # Without the key the head cannot be signed: it is left unsigned, which `verify_trail` reports.
    mac = _head_mac(key, event.id, digest, event_count, keyed_from) if key is not None else None
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(
        last_event_id=event.id, last_hash=digest, keyed_from=keyed_from, head_mac=mac))
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int | None  # None: a problem of the head, not of one event
    message: str


@dataclass
class _ChainCheck:
    problems: list[ChainProblem] = field(default_factory=list)
    first_keyed: int | None = None
    unkeyed_before: int = 0  # old-chain events before keying started
    key_missing: bool = False


_EDITED = "记录内容与校验值不符：记录被修改"
_UNSIGNED = ("记录未以审计密钥签名：在启用审计密钥之后写入或被改写，无法证明未被改写或伪造"
             "（写入时本机缺少审计密钥，或有人绕过程序改写、追加了记录）")

_FROM_KEYRING: Any = object()


def _check_chain(events: Iterable[AuditEvent], key: bytes | None, keyed_from: int | None) -> _ChainCheck:
    check = _ChainCheck()
    expected_prev = GENESIS_HASH
    for event in events:
        if event.prev_hash != expected_prev:
            check.problems.append(ChainProblem(event.id, "前一条记录的校验值不符：有记录被删除或插入"))
        scheme = event.hash_scheme or SHA256
        if scheme == HMAC_SHA256:
            if check.first_keyed is None:
                check.first_keyed = event.id
            if key is None:
                check.key_missing = True  # said once, by the caller: nothing keyed can be checked
            elif not hmac.compare_digest(_digest(scheme, key, canonical_bytes(event)), event.hash):
                check.problems.append(ChainProblem(event.id, _EDITED))
        elif scheme == SHA256:
            if _digest(scheme, None, canonical_bytes(event)) != event.hash:
                check.problems.append(ChainProblem(event.id, _EDITED))
            elif check.first_keyed is not None or (keyed_from is not None and event.id >= keyed_from):
                check.problems.append(ChainProblem(event.id, _UNSIGNED))
            else:
                check.unkeyed_before += 1
        else:
            check.problems.append(ChainProblem(event.id, f"未知的校验方式“{scheme}”：记录被改写"))
        expected_prev = event.hash
    return check


def verify_chain(events: Iterable[AuditEvent], key: bytes | None = _FROM_KEYRING) -> list[ChainProblem]:
    """Check every event against its content and its predecessor, in id order (keyed ones with the audit key)."""
    check = _check_chain(events, load_key() if key is _FROM_KEYRING else key, None)
    if check.key_missing:
        check.problems.append(ChainProblem(None, AUDIT_KEY_MISSING))
    return check.problems


@dataclass(frozen=True)
class TrailReport:
    """What `verify_trail` found: the events checked, the head, where keying started, and every problem."""

    checked: int
    head_hash: str
    head_count: int | None
    problems: list[ChainProblem]
    keyed_from: int | None = None  # the first event keyed with the audit key
    unkeyed_before: int = 0  # events of the old unkeyed chain before it
    key_missing: bool = False
    last_event_id: int | None = None  # the head's

    @property
    def intact(self) -> bool:
        return not self.problems


def _events_in_order(session: Session) -> Iterator[AuditEvent]:
    # In batches: a counter's trail grows by thousands of events a month.
    yield from session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))


def verify_trail(session: Session) -> TrailReport:
    """Check the whole trail: every event's hash or HMAC, every link, and the signed head against the last event."""
    checked = 0
    last: AuditEvent | None = None

    def counted() -> Iterator[AuditEvent]:
        nonlocal checked, last
        for event in _events_in_order(session):
            checked += 1
            last = event
            yield event

    key = load_key()
    head = session.get(AuditHead, 1)
    check = _check_chain(counted(), key, head.keyed_from if head is not None else None)
    problems = check.problems
    last_hash = last.hash if last is not None else GENESIS_HASH

    def report(head_hash: str, head_count: int | None) -> TrailReport:
        if check.key_missing or (key is None and head is not None and head.keyed_from is not None):
            problems.append(ChainProblem(None, AUDIT_KEY_MISSING))
        return TrailReport(checked, head_hash, head_count, problems, check.first_keyed, check.unkeyed_before,
                           key is None, head.last_event_id if head is not None else None)

    if head is None:
        problems.append(ChainProblem(None, "缺少链头记录（audit_head）：无法判断末尾记录是否被删除"))
        return report(last_hash, None)
    if head.last_hash != last_hash:
        problems.append(ChainProblem(
            head.last_event_id,
            f"链头记录的最后一条（编号 {head.last_event_id}）与现存最后一条不符：末尾记录被删除或替换",
        ))
    if head.event_count != checked:
        problems.append(ChainProblem(
            None, f"记录条数与链头不符：链头记 {head.event_count} 条，现存 {checked} 条",
        ))
    if head.keyed_from is None and check.first_keyed is not None:
        problems.append(ChainProblem(
            None, f"链头未记下启用审计密钥的位置，但记录 {check.first_keyed} 起已签名："
                  "链头被重建或改写（降级到审计链头之前再升级，或绕过程序改写）",
        ))
    elif head.keyed_from != check.first_keyed:
        problems.append(ChainProblem(
            None, f"链头记录的启用审计密钥位置（编号 {head.keyed_from}）与记录不符"
                  f"（{'没有签名记录' if check.first_keyed is None else f'编号 {check.first_keyed}'}）："
                  "签名记录被改写为未签名，或链头被改写",
        ))
    if head.keyed_from is not None and key is not None:
        expected = _head_mac(key, head.last_event_id, head.last_hash, head.event_count, head.keyed_from)
        if head.head_mac is None or not hmac.compare_digest(expected, head.head_mac):
            problems.append(ChainProblem(
                None, "链头签名不符：链头被绕过程序改写（末尾记录被删除、追加或替换），或在缺少审计密钥时写入",
            ))
    return report(head.last_hash, head.event_count)


# --- the head anchored outside the database -----------------------------------------------
# `audit verify` notes an intact keyed head in a file of the config folder (per database, signed with
# the audit key, dated). A later verify compares: the anchored event must still be there with the same
# hash and the trail no shorter, so a database replaced by an older copy of itself, or cut back together
# with its head, is found. `db restore` (an administrator's, audited with the head it replaced) moves it.

ANCHOR_FILE = "audit-anchors.json"


@dataclass(frozen=True)
class Anchor:
    noted_on: str  # ISO date
    event_id: int | None
    hash: str
    count: int


def _anchor_mac(key: bytes, database: str, anchor: Anchor) -> str:
    message = json.dumps({"anchor": [database, anchor.noted_on, anchor.event_id, anchor.hash, anchor.count]},
                         ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _read_anchors(config_dir: Path) -> dict[str, Any]:
    path = config_dir / ANCHOR_FILE
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {"": None}  # unreadable: reported by check_anchor
    return loaded if isinstance(loaded, dict) else {"": None}


def note_anchor(config_dir: Path, database: str, report: TrailReport) -> None:
    """Note an intact, keyed trail's head for this database (nothing without the key)."""
    from app.private_files import write_private

    key = load_key()
    if key is None or not report.intact or report.keyed_from is None or report.head_count is None:
        return
    anchor = Anchor(business_today().isoformat(), report.last_event_id, report.head_hash, report.head_count)
    anchors = {k: v for k, v in _read_anchors(config_dir).items() if k}
    anchors[database] = {"noted_on": anchor.noted_on, "event_id": anchor.event_id, "hash": anchor.hash,
                         "count": anchor.count, "mac": _anchor_mac(key, database, anchor)}
    write_private(config_dir / ANCHOR_FILE, json.dumps(anchors, ensure_ascii=False, indent=1).encode())


def forget_anchor(config_dir: Path, database: str) -> None:
    """After an administrator's restore (audited with the head it replaced), the next verify notes a new one."""
    from app.private_files import write_private

    anchors = {k: v for k, v in _read_anchors(config_dir).items() if k and k != database}
    if (config_dir / ANCHOR_FILE).exists():
        write_private(config_dir / ANCHOR_FILE, json.dumps(anchors, ensure_ascii=False, indent=1).encode())


def check_anchor(session: Session, config_dir: Path, database: str) -> list[ChainProblem]:
    """The trail against the head noted earlier for this database (none noted: nothing to compare)."""
    anchors = _read_anchors(config_dir)
    if "" in anchors:
        return [ChainProblem(None, "审计锚点文件已损坏，无法与以前记下的链头比较")]
    noted = anchors.get(database)
    if noted is None:
        return []
    key = load_key()
    try:
        anchor = Anchor(str(noted["noted_on"]), noted["event_id"], str(noted["hash"]), int(noted["count"]))
    except (KeyError, TypeError, ValueError):
        return [ChainProblem(None, "审计锚点文件已损坏，无法与以前记下的链头比较")]
    if key is None:
        return []  # the missing key is reported by verify_trail
    if not hmac.compare_digest(_anchor_mac(key, database, anchor), str(noted.get("mac", ""))):
        return [ChainProblem(None, "审计锚点签名不符：锚点文件被改写")]
    held = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == anchor.event_id))
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    if held != anchor.hash or count < anchor.count:
        return [ChainProblem(anchor.event_id, (
            f"审计日志与 {anchor.noted_on} 记下的链头（{anchor.count} 条，最后一条编号 {anchor.event_id}）不符："
            f"现存 {count} 条{'' if held == anchor.hash else '，该条已不在或被改写'}；"
            "数据库被换成了旧的副本或备份、末尾被截断或被整体改写"))]
    return []


# --- the head anchored at the centre and on the 日结 ---------------------------------------------
# The day-end reconciliation (3201) sends the head: the event count and the head's keyed MAC (never the
# key); the centre keeps it per institution and counter, and the 日结单 prints the count and a short
# fingerprint of the MAC. The MAC at any earlier count is recomputable from the chain (the event at that
# position, its hash, the count and where keying started), so `audit verify` checks each anchor the
# centre holds: a trail cut below an anchor, or rewritten before it, no longer gives the anchored MAC.


def head_anchor(session: Session) -> tuple[int, str] | None:
    """(event count, keyed head MAC) of the trail now; None when the head is not signed (no key)."""
    row = session.execute(select(AuditHead.event_count, AuditHead.head_mac).where(AuditHead.id == 1)).first()
    if row is None or row.head_mac is None:
        return None
    return int(row.event_count), str(row.head_mac)


def mac_at(session: Session, key: bytes, count: int) -> str | None:
    """The keyed head MAC the trail had when it held `count` events (None: fewer events, or not keyed then)."""
    if count < 1:
        return None
    keyed_from = session.scalar(select(AuditHead.keyed_from).where(AuditHead.id == 1))
    event = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id)
                            .offset(count - 1).limit(1)).first()
    if event is None or keyed_from is None:
        return None
    return _head_mac(key, event.id, event.hash, count, keyed_from)


def fingerprint(mac: str) -> str:
    """A short fingerprint of a head MAC to print and read aloud: the first 16 hex digits in fours."""
    short = mac[:16].upper()
    return "-".join(short[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class CentreAnchor:
    counter: str
    count: int
    mac: str
    received: str = ""


def _restores(session: Session) -> list[tuple[dt.datetime, int]]:
    """(when, the replaced head's count) of each keyed `db_restored` event (an unkeyed one proves nothing)."""
    found = []
    for occurred_at, detail in session.execute(select(AuditEvent.occurred_at, AuditEvent.detail).where(
            AuditEvent.action == "db_restored", AuditEvent.hash_scheme == HMAC_SHA256)):
        previous = (detail or {}).get("previous_head") or {}
        if isinstance(previous.get("event_count"), int):
            at = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC)
            found.append((at, int(previous["event_count"])))
    return found


def _superseded(anchor: CentreAnchor, restores: list[tuple[dt.datetime, int]]) -> bool:
    """The anchor is of a trail an administrator's restore replaced (sent before it, within its head)."""
    try:
        received = dt.datetime.fromisoformat(anchor.received)
    except ValueError:
        return False
    if received.tzinfo is None:
        return False
    return any(received < at and anchor.count <= count for at, count in restores)


def check_centre_anchors(session: Session, anchors: Iterable[CentreAnchor]) -> tuple[list[ChainProblem], int]:
    """The trail against the heads the centre keeps (sent with the day-end reconciliations): the problems,
    and how many anchors were of a trail replaced by an administrator's (audited, keyed) restore."""
    key = load_key()
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    restores = _restores(session)
    problems, superseded = [], 0
    for anchor in anchors:
        when = f"{anchor.received[:10]} " if anchor.received else ""
        said = f"与结算中心保存的链头（{anchor.count} 条，{when}{anchor.counter} 日结时发送）不符：现存 {count} 条"
        held = mac_at(session, key, anchor.count) if key is not None else None
        if key is not None and held is not None and hmac.compare_digest(held, anchor.mac):
            continue
        if _superseded(anchor, restores):
            superseded += 1
        elif count < anchor.count:
            problems.append(ChainProblem(None, f"审计日志{said}；末尾被截断，或数据库被换成了旧的副本或备份"))
        elif key is not None:  # without the key nothing keyed can be checked: verify_trail says so
            problems.append(ChainProblem(None, f"审计日志{said}，第 {anchor.count} 条处的链头签名不同；"
                                               "该处之前的记录被改写、删除或插入"))
    return problems, superseded
