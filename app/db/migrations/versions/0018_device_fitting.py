"""Device fitting (辅助器具配置, issue 23 §8): the 配置费用核付通知单 of a device stay.

`stay.notice_no` names the insured place's notice checked at the centre before fitting
(`001 §34`, `002 经办规程 §18`, `000 §30`); `fitted_device` keeps the devices it approves with the
insured place's 最高支付限额 and 最低使用年限 (`000 §29`, `001 §15`) and the fitting date, which
the settlement's limits and the 附件9-2 rows come from. Device stays admitted before this
revision have neither: their 附件9-2 rows keep the catalogue's figures (docs/device-fitting.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('stay') as batch:
        batch.add_column(sa.Column('notice_no', sa.String(length=40), nullable=True))
    op.create_table(
        'fitted_device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stay_id', sa.Integer(), nullable=False),
        sa.Column('notice_no', sa.String(length=40), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('quantity_e4', app.db.types.ScaledDecimal(4), nullable=False),
        sa.Column('max_pay_e4', app.db.types.ScaledDecimal(4), nullable=False),
        sa.Column('min_years', sa.Integer(), nullable=False),
        sa.Column('fitted_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_fitted_device_stay_id_stay')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fitted_device')),
        sa.UniqueConstraint('stay_id', 'code', name=op.f('uq_fitted_device_stay_id_code')),
    )


def downgrade() -> None:
    op.drop_table('fitted_device')
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_column('stay', 'notice_no')
        return
    version = tuple(int(part) for part in bind.exec_driver_sql("SELECT sqlite_version()").scalar_one().split("."))
    if version >= (3, 35):
        # In place: a batch copy of `stay` would drop the table every settlement, line and slip
        # refers to, which the foreign keys refuse once there are stays.
        op.execute("ALTER TABLE stay DROP COLUMN notice_no")
    else:  # an older SQLite can only copy the table (a database without stays)
        with op.batch_alter_table('stay') as batch:
            batch.drop_column('notice_no')
