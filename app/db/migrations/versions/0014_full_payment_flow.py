"""全额垫付 as the seeds have it (issue 23 item 7, `003 §17`, `000 §34`): the day the fault cleared.

`full_payment_receipt.fault_cleared_on`: the day the counter first reached the centre again after
the receipt was issued; in Guangdong 补登记 is due that day (`003 §17`). `backfilled_by`: who did the
补登记 (the 日结单 counts it; nothing is handed back).

Stays already paid in full are not rewritten: those still waiting for 补登记 follow the new flow
as they are (补登记 sends them as paid in full, refunds nothing); those the old flow settled at
补登记 (`settlement_id` set, the fund's part refunded at the window) are listed by
`wi-counter stays old-full-payments` for a reviewer (`docs/full-payment.md`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("full_payment_receipt")}
    # SQLite copies the table to add the foreign key (batch mode); nothing references this table.
    with op.batch_alter_table('full_payment_receipt', schema=None) as batch_op:
        if "fault_cleared_on" not in columns:
            batch_op.add_column(sa.Column('fault_cleared_on', sa.Date(), nullable=True))
        if "backfilled_by" not in columns:
            batch_op.add_column(sa.Column('backfilled_by', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(batch_op.f('fk_full_payment_receipt_backfilled_by_operator'), 'operator',
                                        ['backfilled_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('full_payment_receipt', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_full_payment_receipt_backfilled_by_operator'), type_='foreignkey')
        batch_op.drop_column('backfilled_by')
        batch_op.drop_column('fault_cleared_on')
