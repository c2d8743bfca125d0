"""Pre-audit: the clerk's acknowledgements of findings at discharge, the predictions kept with
each claimed settlement for the month-end comparison with the agency's deductions, and the day a
stay's patient met the discharge criteria.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discharge_criteria_met_on', sa.Date(), nullable=True))

    op.create_table('preaudit_acknowledgement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('amount_at_risk_fen', app.db.models.Money(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'],
                            name=op.f('fk_preaudit_acknowledgement_operator_id_operator')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_preaudit_acknowledgement_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preaudit_acknowledgement'))
    )
    with op.batch_alter_table('preaudit_acknowledgement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preaudit_acknowledgement_stay_id'), ['stay_id'], unique=False)

    op.create_table('preaudit_prediction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_entry_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('amount_at_risk_fen', app.db.models.Money(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('predicted_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_entry_id'], ['claim_entry.id'],
                            name=op.f('fk_preaudit_prediction_claim_entry_id_claim_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preaudit_prediction')),
    sa.UniqueConstraint('claim_entry_id', 'seq', 'rule', name=op.f('uq_preaudit_prediction_claim_entry_id_seq_rule'))
    )
    with op.batch_alter_table('preaudit_prediction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preaudit_prediction_claim_entry_id'), ['claim_entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('preaudit_prediction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preaudit_prediction_claim_entry_id'))
    op.drop_table('preaudit_prediction')
    with op.batch_alter_table('preaudit_acknowledgement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preaudit_acknowledgement_stay_id'))
    op.drop_table('preaudit_acknowledgement')
    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.drop_column('discharge_criteria_met_on')
