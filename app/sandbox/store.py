"""The sandbox centre's own database: one SQLite file under its data folder.

The standard library's sqlite3 is enough here: one process writes, each call is one
`BEGIN IMMEDIATE … COMMIT` (the call's msgid record included), WAL keeps a committed call
across a crash of the process. Decimals are stored as their exact text, dates as ISO text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "sandbox-centre.sqlite3"
SCHEMA_VERSION = "3"  # raise when SCHEMA changes: an older database is then refused, not misread
# 2: claim entries of cancellations (corrections), per-line deductions of the audit
# 3: counters' 终端号 (terminal), the session's counter, each call's request fingerprint and counter


class StaleDatabase(Exception):
    """The data folder holds a sandbox database of another schema version."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS institution (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, province TEXT NOT NULL, city TEXT NOT NULL,
    city_code TEXT NOT NULL, level TEXT NOT NULL, direct_settlement INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS person (
    ssn TEXT PRIMARY KEY, seed_key TEXT, name TEXT NOT NULL, sex TEXT NOT NULL, birth_date TEXT NOT NULL,
    category TEXT NOT NULL, insured_province TEXT NOT NULL, insured_city TEXT NOT NULL,
    insured_city_code TEXT NOT NULL, profile TEXT NOT NULL, insurance_active INTEGER NOT NULL,
    contribution_ok INTEGER NOT NULL, status_text TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS card (
    number TEXT PRIMARY KEY, ssn TEXT NOT NULL REFERENCES person(ssn), generation TEXT NOT NULL,
    issuing_region TEXT NOT NULL, valid_until TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ecard_token (
    token TEXT PRIMARY KEY, ssn TEXT NOT NULL REFERENCES person(ssn), valid_until TEXT);
CREATE TABLE IF NOT EXISTS recognition (
    decision_no TEXT PRIMARY KEY, ssn TEXT NOT NULL REFERENCES person(ssn), kind TEXT NOT NULL,
    injury_date TEXT NOT NULL, decided_on TEXT NOT NULL, diagnoses TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS filing (
    id TEXT PRIMARY KEY, ssn TEXT NOT NULL REFERENCES person(ssn), category TEXT NOT NULL, care TEXT NOT NULL,
    dest_province TEXT NOT NULL, dest_city TEXT NOT NULL, dest_city_code TEXT NOT NULL, dest_institution TEXT,
    approved_on TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT, status TEXT NOT NULL,
    terminated_on TEXT, used_by_settlement INTEGER NOT NULL, filed_on TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalogue (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, unit TEXT NOT NULL,
    price_limit TEXT, max_pay TEXT, per_day INTEGER NOT NULL, min_years INTEGER,
    valid INTEGER NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS terminal (
    institution TEXT NOT NULL, counter_id TEXT NOT NULL, terminal_no TEXT NOT NULL, registered_at TEXT NOT NULL,
    PRIMARY KEY (institution, counter_id), UNIQUE (institution, terminal_no));
CREATE TABLE IF NOT EXISTS session (
    sign_no TEXT PRIMARY KEY, institution TEXT NOT NULL, operator TEXT NOT NULL,
    signed_in_at TEXT NOT NULL, expires_at TEXT NOT NULL, ended INTEGER NOT NULL DEFAULT 0,
    counter_id TEXT NOT NULL DEFAULT '', terminal_no TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS call (
    msgid TEXT PRIMARY KEY, institution TEXT NOT NULL, infno TEXT NOT NULL, outcome TEXT NOT NULL,
    err_code TEXT NOT NULL DEFAULT '', err_msg TEXT NOT NULL DEFAULT '', output TEXT NOT NULL DEFAULT '{}',
    effect TEXT NOT NULL DEFAULT '{}', refmsgid TEXT NOT NULL, received_at TEXT NOT NULL,
    reversed_by TEXT NOT NULL DEFAULT '', operator TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '', counter_id TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS registration (
    registration_no TEXT PRIMARY KEY, institution TEXT NOT NULL, ssn TEXT NOT NULL, recognition_no TEXT,
    filing_id TEXT, care TEXT NOT NULL, admission_no TEXT NOT NULL, dept TEXT NOT NULL, admitted TEXT NOT NULL,
    emergency INTEGER NOT NULL, third_party INTEGER NOT NULL, diagnoses TEXT NOT NULL, profile TEXT NOT NULL,
    status TEXT NOT NULL, msgid TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS registration_person ON registration (ssn, institution, status);
CREATE TABLE IF NOT EXISTS fee_line (
    id INTEGER PRIMARY KEY, registration_no TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL,
    name TEXT NOT NULL, category TEXT NOT NULL, quantity TEXT NOT NULL, unit_price TEXT NOT NULL,
    amount TEXT NOT NULL, amount_fen INTEGER NOT NULL, date TEXT NOT NULL, diagnosis TEXT, injury INTEGER, refund_of INTEGER,
    live INTEGER NOT NULL, msgid TEXT NOT NULL, cancel_msgid TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS fee_line_live ON fee_line (registration_no, seq) WHERE live = 1;
CREATE INDEX IF NOT EXISTS fee_line_registration ON fee_line (registration_no, live);
CREATE TABLE IF NOT EXISTS settlement (
    settlement_id TEXT PRIMARY KEY, institution TEXT NOT NULL, registration_no TEXT NOT NULL,
    msgid TEXT NOT NULL, settled TEXT NOT NULL, discharged TEXT NOT NULL, business_date TEXT NOT NULL,
    time TEXT NOT NULL, settlement_kind TEXT NOT NULL, total TEXT NOT NULL, fund_total TEXT NOT NULL,
    personal_total TEXT NOT NULL, result TEXT NOT NULL, status TEXT NOT NULL, consumed_filing TEXT);
CREATE INDEX IF NOT EXISTS settlement_day ON settlement (institution, business_date);
CREATE TABLE IF NOT EXISTS cancellation (
    cancellation_id TEXT PRIMARY KEY, settlement_id TEXT NOT NULL, institution TEXT NOT NULL,
    msgid TEXT NOT NULL, business_date TEXT NOT NULL, time TEXT NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cancellation_day ON cancellation (institution, business_date);
CREATE TABLE IF NOT EXISTS claim (
    claim_no TEXT PRIMARY KEY, institution TEXT NOT NULL, period TEXT NOT NULL, chunks INTEGER NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL,
    audited TEXT NOT NULL DEFAULT '');  -- the business date the audit was pushed (003 §20), '' before
CREATE TABLE IF NOT EXISTS claim_entry (
    id INTEGER PRIMARY KEY, claim_no TEXT NOT NULL, chunk INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('settlement', 'cancellation')),
    claimed_id TEXT NOT NULL,  -- what the counter named in settlement_ids: JS… or CX…
    settlement_id TEXT NOT NULL,  -- the settlement (for a cancellation: the one it cancelled)
    cancellation_id TEXT,  -- CX… for a cancellation, else NULL
    live INTEGER NOT NULL, msgid TEXT NOT NULL, deduction TEXT NOT NULL DEFAULT '0.00',
    deduction_reason TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS claim_entry_live ON claim_entry (claimed_id) WHERE live = 1;
CREATE INDEX IF NOT EXISTS claim_entry_settlement ON claim_entry (settlement_id, kind, live);
CREATE INDEX IF NOT EXISTS claim_entry_chunk ON claim_entry (claim_no, chunk, live);
CREATE TABLE IF NOT EXISTS claim_line_deduction (
    id INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL REFERENCES claim_entry(id), seq INTEGER NOT NULL,
    code TEXT NOT NULL, name TEXT NOT NULL, date TEXT NOT NULL, amount TEXT NOT NULL, reason TEXT NOT NULL,
    rule TEXT NOT NULL);  -- per_day (one a day) or after_discharge
CREATE INDEX IF NOT EXISTS claim_line_deduction_entry ON claim_line_deduction (entry_id, seq);
-- 补登记 of a stay paid in full (003 §17): the insured place sees it; no settlement, nothing to claim.
CREATE TABLE IF NOT EXISTS full_payment (
    registration_no TEXT NOT NULL, institution TEXT NOT NULL, receipt_no TEXT NOT NULL,
    paid_in_full TEXT NOT NULL, discharged TEXT NOT NULL, msgid TEXT NOT NULL, business_date TEXT NOT NULL,
    time TEXT NOT NULL, status TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS full_payment_live ON full_payment (registration_no) WHERE status = 'live';
-- The counters' audit trail heads sent with 3201 (issue 22 §4): anchors outside the counter's database.
-- Additive: made in an existing data folder of this schema version too.
CREATE TABLE IF NOT EXISTS audit_anchor (
    institution TEXT NOT NULL, counter TEXT NOT NULL, event_count INTEGER NOT NULL, head_mac TEXT NOT NULL,
    business_date TEXT NOT NULL, received TEXT NOT NULL, PRIMARY KEY (institution, counter, event_count));
-- 异议 of a deduction (003 §20): the statement and the evidence's names and SHA-256 (JSON), the answer.
CREATE TABLE IF NOT EXISTS dispute (
    dispute_id TEXT PRIMARY KEY, institution TEXT NOT NULL, claim_no TEXT NOT NULL, settlement_id TEXT NOT NULL,
    seq INTEGER NOT NULL, amount TEXT NOT NULL, statement TEXT NOT NULL, evidence TEXT NOT NULL,
    dispute_ref TEXT NOT NULL, msgid TEXT NOT NULL, received TEXT NOT NULL,
    status TEXT NOT NULL,  -- received, upheld, rejected; withdrawn (reversed by 2601)
    answer TEXT NOT NULL DEFAULT '', answered TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS dispute_live ON dispute (claim_no, settlement_id, seq) WHERE status <> 'withdrawn';
-- 康复方案 of a rehab stay (000 §30): up before its discharge settlement.
CREATE TABLE IF NOT EXISTS rehab_plan (
    registration_no TEXT NOT NULL, institution TEXT NOT NULL, document_no TEXT NOT NULL, summary TEXT NOT NULL,
    drawn_up TEXT NOT NULL, msgid TEXT NOT NULL, business_date TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rehab_plan_registration ON rehab_plan (registration_no, status);
-- 配置费用核付通知单 issued by the insured place (001 §34, 002 经办规程 §18, 000 §30): the approved
-- devices (JSON: code, name, quantity, max_pay, min_years), the insured place's limits (000 §29, 001 §15).
CREATE TABLE IF NOT EXISTS notice (
    notice_no TEXT PRIMARY KEY, ssn TEXT NOT NULL REFERENCES person(ssn), insured_province TEXT NOT NULL,
    insured_city TEXT NOT NULL, insured_city_code TEXT NOT NULL, issued TEXT NOT NULL, valid_until TEXT NOT NULL,
    status TEXT NOT NULL,  -- valid, used (by used_by's settlement), cancelled
    used_by TEXT NOT NULL DEFAULT '', items TEXT NOT NULL);
-- The notice a device registration (2401, care device) fits against.
CREATE TABLE IF NOT EXISTS registration_notice (registration_no TEXT PRIMARY KEY, notice_no TEXT NOT NULL);
"""


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) the sandbox database under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # like the counter's own data folders
    connection = sqlite3.connect(data_dir / DATABASE_NAME, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a crash of the process
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    found = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    version = None
    if found is not None:
        version = get_meta(connection, "schema_version")
        if version in ("1", "2"):
            # A site's training data (and the demo's) survives this program's update.
            if version == "1":
                connection.executescript(_UPGRADE_FROM_1)
            _upgrade_from_2(connection)
            version = None
        elif version != SCHEMA_VERSION:
            connection.close()
            raise StaleDatabase(version or "?")
        _add_audit_date(connection)
    connection.executescript(SCHEMA)
    if version is None:
        set_meta(connection, "schema_version", SCHEMA_VERSION)
    return connection


# Schema 1 → 2: claim entries say what they claim (a settlement or a correction's cancellation).
_UPGRADE_FROM_1 = """
ALTER TABLE claim_entry ADD COLUMN kind TEXT NOT NULL DEFAULT 'settlement'
    CHECK (kind IN ('settlement', 'cancellation'));
ALTER TABLE claim_entry ADD COLUMN claimed_id TEXT NOT NULL DEFAULT '';
ALTER TABLE claim_entry ADD COLUMN cancellation_id TEXT;
UPDATE claim_entry SET claimed_id = settlement_id;
DROP INDEX IF EXISTS claim_entry_live;
DROP INDEX IF EXISTS claim_chunk_live;
"""


# Schema 2 → 3: who sent each call (issue 21); calls recorded before keep no fingerprint. (The
# terminal table is new: SCHEMA creates it.)
_COLUMNS_FROM_3 = (("session", "counter_id"), ("session", "terminal_no"), ("call", "fingerprint"),
                   ("call", "counter_id"))


def _upgrade_from_2(connection: sqlite3.Connection) -> None:
    for table, column in _COLUMNS_FROM_3:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if columns and column not in columns:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")


def _add_audit_date(connection: sqlite3.Connection) -> None:
    """A claim's audit (push) date, added to a database of schema 3 in place: a claim audited before
    is taken as pushed the day it was received (its created_at's date)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(claim)")}
    if columns and "audited" not in columns:
        connection.execute("ALTER TABLE claim ADD COLUMN audited TEXT NOT NULL DEFAULT ''")
        connection.execute("UPDATE claim SET audited = substr(created_at, 1, 10) WHERE status = 'audited'")


def remove(data_dir: Path) -> None:
    """Delete the sandbox database (and its WAL files) under `data_dir`: `centre serve --reset`."""
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"{DATABASE_NAME}{suffix}").unlink(missing_ok=True)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic unit: everything inside is committed together or not at all."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def next_number(connection: sqlite3.Connection, name: str) -> int:
    """The next value of a named counter (call inside a transaction)."""
    row = connection.execute(
        "INSERT INTO counter (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1 "
        "RETURNING value", (name,)).fetchone()
    return int(row[0])


def get_meta(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(connection: sqlite3.Connection, key: str, value: str) -> None:
    connection.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (key, value))
