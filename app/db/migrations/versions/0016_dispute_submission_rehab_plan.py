"""Disputes sent to the agency (`003 §20`) and the rehab plan of a rehab stay (`000 §30`).

`deduction_dispute` gains the evidence's SHA-256, its state at the centre (pending / submitted /
refused / local), the centre's number and the agency's answer. Disputes recorded before this
revision were never sent: they become `pending` and can be sent from the 月度结算 page or
`wi-counter claims dispute` (their hashes are taken then). `rehab_plan` is new.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.models import UtcDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deduction_dispute') as batch:
        batch.add_column(sa.Column('evidence_sha256', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('state', sa.String(length=16), nullable=False, server_default='pending'))
        batch.add_column(sa.Column('refusal', sa.Text(), nullable=True))
        batch.add_column(sa.Column('centre_dispute_id', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('submitted_at', UtcDateTime(), nullable=True))
        batch.add_column(sa.Column('answer_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('answer', sa.Text(), nullable=True))
        batch.add_column(sa.Column('answered_on', sa.Date(), nullable=True))
    op.create_table(
        'rehab_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stay_id', sa.Integer(), nullable=False),
        sa.Column('document_no', sa.String(length=64), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('drawn_up', sa.Date(), nullable=False),
        sa.Column('recorded_by', sa.Integer(), nullable=False),
        sa.Column('recorded_at', UtcDateTime(), nullable=False),
        sa.Column('uploaded_at', UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['recorded_by'], ['operator.id'], name=op.f('fk_rehab_plan_recorded_by_operator')),
        sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_rehab_plan_stay_id_stay')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rehab_plan')),
    )
    op.create_index(op.f('ix_rehab_plan_stay_id'), 'rehab_plan', ['stay_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rehab_plan_stay_id'), table_name='rehab_plan')
    op.drop_table('rehab_plan')
    with op.batch_alter_table('deduction_dispute') as batch:
        for column in ('answered_on', 'answer', 'answer_status', 'submitted_at', 'centre_dispute_id', 'refusal',
                       'state', 'evidence_sha256'):
            batch.drop_column(column)
