"""Slip: 审核人, 待遇类别 and 业务类别 of a settlement; one print per 补打 count.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewer_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('benefit_category', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('business_category', sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_settlement_reviewer_id_operator'), 'operator', ['reviewer_id'], ['id'])

    with op.batch_alter_table('print_log', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_print_log_settlement_id_reprint_no'), ['settlement_id', 'reprint_no'])


def downgrade() -> None:
    with op.batch_alter_table('print_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_print_log_settlement_id_reprint_no'), type_='unique')

    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_settlement_reviewer_id_operator'), type_='foreignkey')
        batch_op.drop_column('business_category')
        batch_op.drop_column('benefit_category')
        batch_op.drop_column('reviewer_id')
