"""The counter workflow: local catalogue, HIS code map, HIS imports, filing checks,
full-payment receipts; charge-line override and informed flags; how a stay's worker was identified.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models
import app.db.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('catalogue_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('category', sa.Enum('drug', 'treatment', 'consumable', 'rehab', 'device', name='charge_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('price_limit_e4', app.db.types.ScaledDecimal(4), nullable=True),
    sa.Column('max_pay_e4', app.db.types.ScaledDecimal(4), nullable=True),
    sa.Column('per_day', sa.Boolean(), nullable=False),
    sa.Column('min_years', sa.Integer(), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fetched_at', app.db.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_item')),
    sa.UniqueConstraint('code', name=op.f('uq_catalogue_item_code'))
    )
    op.create_table('his_code_map',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('his_code', sa.String(length=64), nullable=False),
    sa.Column('his_name', sa.String(length=128), nullable=True),
    sa.Column('catalogue_code', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=False),
    sa.Column('updated_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['updated_by'], ['operator.id'], name=op.f('fk_his_code_map_updated_by_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_his_code_map')),
    sa.UniqueConstraint('his_code', name=op.f('uq_his_code_map_his_code'))
    )
    op.create_table('filing_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('check_date', sa.Date(), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('settlement_kind', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('checked_by', sa.Integer(), nullable=False),
    sa.Column('checked_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['checked_by'], ['operator.id'], name=op.f('fk_filing_check_checked_by_operator')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_filing_check_stay_id_stay')),
    sa.ForeignKeyConstraint(['worker_id'], ['worker.id'], name=op.f('fk_filing_check_worker_id_worker')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing_check'))
    )
    op.create_table('his_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=True),
    sa.Column('mapping_name', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('added_count', sa.Integer(), nullable=False),
    sa.Column('imported_by', sa.Integer(), nullable=False),
    sa.Column('imported_at', app.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by'], ['operator.id'], name=op.f('fk_his_import_imported_by_operator')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_his_import_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_his_import'))
    )
    op.create_table('full_payment_receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_no', sa.String(length=32), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', app.db.types.ScaledDecimal(2), nullable=False),
    sa.Column('issued_by', sa.Integer(), nullable=False),
    sa.Column('issued_at', app.db.models.UtcDateTime(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=True),
    sa.Column('backfilled_at', app.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['issued_by'], ['operator.id'], name=op.f('fk_full_payment_receipt_issued_by_operator')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_full_payment_receipt_settlement_id_settlement')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_full_payment_receipt_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_full_payment_receipt')),
    sa.UniqueConstraint('receipt_no', name=op.f('uq_full_payment_receipt_receipt_no'))
    )
    with op.batch_alter_table('charge_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('his_import_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('override_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('override_approved_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('patient_informed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key(batch_op.f('fk_charge_line_override_by_operator'), 'operator', ['override_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_charge_line_his_import_id_his_import'), 'his_import', ['his_import_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_charge_line_override_approved_by_operator'), 'operator', ['override_approved_by'], ['id'])

    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identified_by', sa.String(length=8), nullable=False, server_default='card'))
        batch_op.add_column(sa.Column('identification_reason', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('stay', schema=None) as batch_op:
        batch_op.drop_column('identification_reason')
        batch_op.drop_column('identified_by')

    with op.batch_alter_table('charge_line', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_charge_line_override_approved_by_operator'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_charge_line_his_import_id_his_import'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_charge_line_override_by_operator'), type_='foreignkey')
        batch_op.drop_column('patient_informed')
        batch_op.drop_column('override_approved_by')
        batch_op.drop_column('override_by')
        batch_op.drop_column('his_import_id')

    op.drop_table('full_payment_receipt')
    op.drop_table('his_import')
    op.drop_table('filing_check')
    op.drop_table('his_code_map')
    op.drop_table('catalogue_item')
