"""The audit chain keyed: a per-event marker of how its hash was made, and the keyed head.

`audit_event.hash_scheme`: NULL (events written before this revision) or `sha256` is the old unkeyed
chain; `hmac-sha256` is keyed with the institution's audit key from the OS keyring (never stored in
the database). `audit_head.keyed_from` is the first keyed event and `audit_head.head_mac` the head's
HMAC, so neither the head nor where keying started can be rewritten without the key (`app.audit`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the append-only triggers of 0008 stay in place. Columns kept by a
    # downgrade (below) are found again, with the markers of the keyed events in them.
    if "hash_scheme" not in _columns("audit_event"):
        op.add_column('audit_event', sa.Column('hash_scheme', sa.String(length=16), nullable=True))
    head = _columns("audit_head")
    if "keyed_from" not in head:
        op.add_column('audit_head', sa.Column('keyed_from', sa.Integer(), nullable=True))
    if "head_mac" not in head:
        op.add_column('audit_head', sa.Column('head_mac', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # The columns stay: dropping the markers would leave every keyed event unverifiable after an upgrade.
    # Older code never names them; the events it writes leave `hash_scheme` NULL, the old unkeyed chain,
    # which `audit verify` reports as unsigned once keying had started (and the head as unsigned).
    pass
