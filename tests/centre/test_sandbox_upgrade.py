"""A sandbox data folder of schema 1 (before claim corrections) is upgraded in place, its claims kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.sandbox import store


def test_a_schema_1_database_is_upgraded_and_keeps_its_claims(tmp_path: Path) -> None:
    path = tmp_path / store.DATABASE_NAME
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE claim_entry (
            id INTEGER PRIMARY KEY, claim_no TEXT NOT NULL, chunk INTEGER NOT NULL, settlement_id TEXT NOT NULL,
            live INTEGER NOT NULL, msgid TEXT NOT NULL, deduction TEXT NOT NULL DEFAULT '0.00',
            deduction_reason TEXT NOT NULL DEFAULT '');
        CREATE UNIQUE INDEX claim_entry_live ON claim_entry (settlement_id) WHERE live = 1;
        INSERT INTO claim_entry (claim_no, chunk, settlement_id, live, msgid) VALUES ('YJ-1', 1, 'JS0001', 1, 'M1');
    """)
    old.commit()
    old.close()

    connection = store.connect(tmp_path)
    try:
        assert store.get_meta(connection, "schema_version") == store.SCHEMA_VERSION
        row = connection.execute("SELECT kind, claimed_id, settlement_id, cancellation_id FROM claim_entry").fetchone()
        assert tuple(row) == ("settlement", "JS0001", "JS0001", None)
        assert connection.execute("SELECT count(*) FROM claim_line_deduction").fetchone()[0] == 0
    finally:
        connection.close()
    # Opened again: already upgraded, nothing to do.
    store.connect(tmp_path).close()


def test_a_claim_audited_before_the_push_date_was_kept_takes_its_receipt_date(tmp_path: Path) -> None:
    """3302 reports the day the audit was pushed (`003 §20`); a database of schema 3 had no such
    column: it gains it in place, a claim audited then taking the day it was received."""
    connection = store.connect(tmp_path)
    connection.execute("INSERT INTO claim (claim_no, institution, period, chunks, status, created_at) "
                       "VALUES ('YJ-1', 'H44080100001', '2026-11', 1, 'audited', '2026-12-01 09:30:00'), "
                       "('YJ-2', 'H44080100001', '2026-11', 2, 'receiving', '2026-12-02 09:30:00')")
    connection.execute("ALTER TABLE claim DROP COLUMN audited")  # as schema 3 made it
    connection.close()
    connection = store.connect(tmp_path)
    try:
        rows = dict(connection.execute("SELECT claim_no, audited FROM claim").fetchall())
        assert rows == {"YJ-1": "2026-12-01", "YJ-2": ""}
    finally:
        connection.close()
