"""病案首页补齐 of a discharge settlement (`003 §16`): who marked it and when.

`medical_record_completion` is new: one row per settlement whose 病案首页 the counter was told is
complete. The settlements already more than 30 days old when this revision runs are recorded as
handled before the counter kept track (`completed_by` empty): their 7 days are long over and the
records office dealt with them without the counter; the newer ones are listed as deadlines until a
clerk marks them (docs/claims.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.models import UtcDateTime

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Older than this when the revision runs: handled before the counter kept the record.
HANDLED_BEFORE_DAYS = 30


def upgrade() -> None:
    op.create_table(
        'medical_record_completion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('settlement_id', sa.Integer(), nullable=False),
        sa.Column('completed_by', sa.Integer(), nullable=True),
        sa.Column('completed_at', UtcDateTime(), nullable=False),
        sa.Column('counter_name', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['completed_by'], ['operator.id'],
                                name=op.f('fk_medical_record_completion_completed_by_operator')),
        sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'],
                                name=op.f('fk_medical_record_completion_settlement_id_settlement')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_record_completion')),
        sa.UniqueConstraint('settlement_id', name=op.f('uq_medical_record_completion_settlement_id')),
    )
    now = dt.datetime.now(dt.UTC)
    cutoff = now.date() - dt.timedelta(days=HANDLED_BEFORE_DAYS)
    # One INSERT … SELECT (no rows on a new database): the settlements, not their cancellations.
    op.get_bind().execute(
        sa.text("INSERT INTO medical_record_completion (settlement_id, completed_by, completed_at, counter_name) "
                "SELECT id, NULL, :now, NULL FROM settlement WHERE kind = 'settlement' AND settled_on < :cutoff")
        .bindparams(sa.bindparam("now", type_=UtcDateTime()), sa.bindparam("cutoff", type_=sa.Date())),
        {"now": now, "cutoff": cutoff})


def downgrade() -> None:
    op.drop_table('medical_record_completion')
