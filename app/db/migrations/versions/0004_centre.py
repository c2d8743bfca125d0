"""The centre client: msgid sequence, outbox bookkeeping, call log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL hands out msgid sequence numbers from a SEQUENCE (never blocks other counters);
# SQLite from the one-row table centre_msgid_counter, bumped inside the writing transaction.
MSGID_SEQUENCE = 'centre_msgid_seq'


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.schema.CreateSequence(sa.Sequence(MSGID_SEQUENCE, start=1)))
    op.create_table('centre_msgid_counter',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_centre_msgid_counter'))
    )
    op.create_table('centre_call_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('msgid', sa.String(length=32), nullable=False),
    sa.Column('txn_code', sa.String(length=8), nullable=False),
    sa.Column('operation', sa.String(length=32), nullable=False),
    sa.Column('counter_name', sa.String(length=64), nullable=False),
    sa.Column('operator_code', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=8), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('centre_ref', sa.String(length=64), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centre_call_log'))
    )
    op.create_index(op.f('ix_centre_call_log_msgid'), 'centre_call_log', ['msgid'], unique=False)
    # No program before this revision wrote outbox entries, so the new NOT NULL columns
    # need no default for existing rows.
    with op.batch_alter_table('outbox_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=False))
        batch_op.add_column(sa.Column('operation', sa.String(length=32), nullable=False))
        batch_op.add_column(sa.Column('counter_name', sa.String(length=64), nullable=False))
        batch_op.add_column(sa.Column('centre_ref', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_entry_seq'), ['seq'])


def downgrade() -> None:
    with op.batch_alter_table('outbox_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_outbox_entry_seq'), type_='unique')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('resolution')
        batch_op.drop_column('centre_ref')
        batch_op.drop_column('counter_name')
        batch_op.drop_column('operation')
        batch_op.drop_column('seq')
    op.drop_index(op.f('ix_centre_call_log_msgid'), table_name='centre_call_log')
    op.drop_table('centre_call_log')
    op.drop_table('centre_msgid_counter')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.schema.DropSequence(sa.Sequence(MSGID_SEQUENCE)))
