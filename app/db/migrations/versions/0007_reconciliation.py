"""Day-end reconciliation with the centre: each run's totals and the differences for a reviewer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reconciliation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('counter_name', sa.String(length=64), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('run_at', app.db.models.UtcDateTime(), nullable=False),
    sa.Column('centre_totals', sa.JSON(), nullable=False),
    sa.Column('counter_totals', sa.JSON(), nullable=False),
    sa.Column('details_compared', sa.Boolean(), nullable=False),
    sa.Column('agrees', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_reconciliation_operator_id_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation'))
    )
    with op.batch_alter_table('reconciliation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_business_date'), ['business_date'], unique=False)

    op.create_table('reconciliation_difference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reconciliation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('transaction_kind', sa.String(length=16), nullable=False),
    sa.Column('msgid', sa.String(length=32), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=True),
    sa.Column('registration_no', sa.String(length=64), nullable=True),
    sa.Column('centre_amounts', sa.JSON(), nullable=True),
    sa.Column('counter_amounts', sa.JSON(), nullable=True),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', app.db.models.UtcDateTime(), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['reconciliation_id'], ['reconciliation.id'],
                            name=op.f('fk_reconciliation_difference_reconciliation_id_reconciliation')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['operator.id'],
                            name=op.f('fk_reconciliation_difference_reviewed_by_operator')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_reconciliation_difference_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_difference'))
    )
    with op.batch_alter_table('reconciliation_difference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_difference_reconciliation_id'), ['reconciliation_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reconciliation_difference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_difference_reconciliation_id'))
    op.drop_table('reconciliation_difference')
    with op.batch_alter_table('reconciliation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_business_date'))
    op.drop_table('reconciliation')
