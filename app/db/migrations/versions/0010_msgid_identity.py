"""Counters on their own databases never share a msgid (issue 21): the request's fingerprint kept
with each outbox entry, so an outcome found by msgid is proven to be this counter's call before it
is applied or reversed. (The database's identity and 终端号 are rows of centre_msgid_counter.)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_entry', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
