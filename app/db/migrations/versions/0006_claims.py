"""Monthly claims: the agency's per-line deductions and the hospital's disputes; a claim's agency,
profile, upload progress and the centre's status.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models
import app.db.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('monthly_claim', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('profile', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('chunks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('chunks_done', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('centre_status', sa.String(length=16), nullable=True))

    op.create_index('ix_charge_line_not_uploaded', 'charge_line', ['stay_id'], unique=False,
                    sqlite_where=sa.text('uploaded_at IS NULL'), postgresql_where=sa.text('uploaded_at IS NULL'))
    op.create_table('claim_deduction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_entry_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('charge_line_id', sa.Integer(), nullable=True),
    sa.Column('item_code', sa.String(length=64), nullable=True),
    sa.Column('item_name', sa.String(length=128), nullable=True),
    sa.Column('amount_fen', app.db.types.ScaledDecimal(2), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('notified_on', sa.Date(), nullable=False),
    sa.Column('dispute_due', sa.Date(), nullable=False),
    sa.Column('fetched_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['charge_line_id'], ['charge_line.id'], name=op.f('fk_claim_deduction_charge_line_id_charge_line')),
    sa.ForeignKeyConstraint(['claim_entry_id'], ['claim_entry.id'], name=op.f('fk_claim_deduction_claim_entry_id_claim_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_deduction')),
    sa.UniqueConstraint('claim_entry_id', 'line_no', name=op.f('uq_claim_deduction_claim_entry_id_line_no'))
    )
    op.create_table('deduction_dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deduction_id', sa.Integer(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('filed_by', sa.Integer(), nullable=False),
    sa.Column('filed_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['deduction_id'], ['claim_deduction.id'], name=op.f('fk_deduction_dispute_deduction_id_claim_deduction')),
    sa.ForeignKeyConstraint(['filed_by'], ['operator.id'], name=op.f('fk_deduction_dispute_filed_by_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deduction_dispute')),
    sa.UniqueConstraint('deduction_id', name=op.f('uq_deduction_dispute_deduction_id'))
    )


def downgrade() -> None:
    op.drop_index('ix_charge_line_not_uploaded', table_name='charge_line')
    op.drop_table('deduction_dispute')
    op.drop_table('claim_deduction')
    with op.batch_alter_table('monthly_claim', schema=None) as batch_op:
        batch_op.drop_column('centre_status')
        batch_op.drop_column('chunks_done')
        batch_op.drop_column('chunks')
        batch_op.drop_column('profile')
        batch_op.drop_column('agency_name')
