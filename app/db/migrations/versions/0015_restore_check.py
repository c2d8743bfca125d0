"""A `db restore`'s reconciliation with the centre (issue 21 B2): admission and settlement wait for it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('restore_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('restored_at', app.db.models.UtcDateTime(), nullable=False),
    sa.Column('backup_file', sa.String(length=512), nullable=False),
    sa.Column('since', app.db.models.UtcDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('checked_at', app.db.models.UtcDateTime(), nullable=True),
    sa.Column('differences', sa.JSON(), nullable=False),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', app.db.models.UtcDateTime(), nullable=True),
    sa.Column('acknowledgement_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['operator.id'], name=op.f('fk_restore_check_acknowledged_by_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_restore_check'))
    )


def downgrade() -> None:
    op.drop_table('restore_check')
