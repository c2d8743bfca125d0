"""Care records: workers, recognitions, filings, stays, charges, settlements, claims, outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money columns (*_fen) are integer fen; quantities and unit prices (*_e4) are ×10^4
# integers (app.db.types.ScaledDecimal). Enumerations are VARCHAR with CHECK constraints.


def upgrade() -> None:
    op.create_table('worker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('social_security_number', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.String(length=2), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('nation', sa.String(length=32), nullable=True),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('insured_province', sa.String(length=32), nullable=False),
    sa.Column('insured_city', sa.String(length=32), nullable=False),
    sa.Column('insured_city_code', sa.String(length=6), nullable=False),
    sa.Column('card_number', sa.String(length=16), nullable=True),
    sa.Column('card_id', sa.String(length=32), nullable=True),
    sa.Column('insurance_active', sa.Boolean(), nullable=False),
    sa.Column('contribution_ok', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker')),
    sa.UniqueConstraint('social_security_number', name=op.f('uq_worker_social_security_number'))
    )
    op.create_table('filing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('filing_no', sa.String(length=32), nullable=False),
    sa.Column('category', sa.Enum('long_term_residence', 'long_term_work', 'referral', name='filing_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('covers_medical', sa.Boolean(), nullable=False),
    sa.Column('covers_rehab', sa.Boolean(), nullable=False),
    sa.Column('covers_device', sa.Boolean(), nullable=False),
    sa.Column('dest_province', sa.String(length=32), nullable=False),
    sa.Column('dest_city', sa.String(length=32), nullable=False),
    sa.Column('dest_city_code', sa.String(length=6), nullable=False),
    sa.Column('dest_institution_code', sa.String(length=12), nullable=True),
    sa.Column('approved_on', sa.Date(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('active', 'cancelled', 'terminated', name='filing_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('terminated_on', sa.Date(), nullable=True),
    sa.Column('used_by_settlement', sa.Boolean(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('valid_to IS NULL OR valid_from <= valid_to', name=op.f('ck_filing_valid_window')),
    sa.ForeignKeyConstraint(['worker_id'], ['worker.id'], name=op.f('fk_filing_worker_id_worker')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filing')),
    sa.UniqueConstraint('filing_no', name=op.f('uq_filing_filing_no'))
    )
    op.create_table('injury_recognition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('decision_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('injury', 'recurrence', 'rehab', 'device', name='recognition_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('injury_date', sa.Date(), nullable=False),
    sa.Column('recognised_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['worker_id'], ['worker.id'], name=op.f('fk_injury_recognition_worker_id_worker')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_injury_recognition')),
    sa.UniqueConstraint('worker_id', 'decision_no', name=op.f('uq_injury_recognition_worker_id_decision_no'))
    )
    op.create_table('monthly_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_no', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('centre_code', sa.String(length=32), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'uploading', 'uploaded', 'answered', name='claim_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('person_times', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('personal_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('deduction_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('built_by', sa.Integer(), nullable=False),
    sa.Column('built_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['built_by'], ['operator.id'], name=op.f('fk_monthly_claim_built_by_operator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_claim')),
    sa.UniqueConstraint('batch_no', name=op.f('uq_monthly_claim_batch_no')),
    sa.UniqueConstraint('month', 'centre_code', 'sequence', name=op.f('uq_monthly_claim_month_centre_code_sequence'))
    )
    op.create_table('recognition_diagnosis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recognition_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['recognition_id'], ['injury_recognition.id'], name=op.f('fk_recognition_diagnosis_recognition_id_injury_recognition')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_diagnosis')),
    sa.UniqueConstraint('recognition_id', 'code', name=op.f('uq_recognition_diagnosis_recognition_id_code'))
    )
    op.create_table('stay',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('recognition_id', sa.Integer(), nullable=True),
    sa.Column('filing_id', sa.Integer(), nullable=True),
    sa.Column('profile', sa.String(length=32), nullable=False),
    sa.Column('settlement_kind', sa.String(length=16), nullable=True),
    sa.Column('care', sa.Enum('medical', 'rehab', 'device', name='care', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('admission_no', sa.String(length=32), nullable=False),
    sa.Column('registration_no', sa.String(length=32), nullable=True),
    sa.Column('dept', sa.String(length=64), nullable=False),
    sa.Column('bed', sa.String(length=16), nullable=True),
    sa.Column('admitted_on', sa.Date(), nullable=False),
    sa.Column('discharged_on', sa.Date(), nullable=True),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('third_party_liability', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('admitted', 'pending_settlement', 'settled', 'cancelled', 'pending_backfill', name='stay_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('registered_offline', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('discharged_on IS NULL OR admitted_on <= discharged_on', name=op.f('ck_stay_dates_in_order')),
    sa.ForeignKeyConstraint(['created_by'], ['operator.id'], name=op.f('fk_stay_created_by_operator')),
    sa.ForeignKeyConstraint(['filing_id'], ['filing.id'], name=op.f('fk_stay_filing_id_filing')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_stay_institution_id_institution')),
    sa.ForeignKeyConstraint(['recognition_id'], ['injury_recognition.id'], name=op.f('fk_stay_recognition_id_injury_recognition')),
    sa.ForeignKeyConstraint(['worker_id'], ['worker.id'], name=op.f('fk_stay_worker_id_worker')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stay')),
    sa.UniqueConstraint('institution_id', 'admission_no', name=op.f('uq_stay_institution_id_admission_no')),
    sa.UniqueConstraint('registration_no', name=op.f('uq_stay_registration_no'))
    )
    op.create_table('charge_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('his_code', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('category', sa.Enum('drug', 'treatment', 'consumable', 'rehab', 'device', name='charge_category', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('quantity_e4', sa.BigInteger(), nullable=False),
    sa.Column('unit_price_e4', sa.BigInteger(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('charged_on', sa.Date(), nullable=False),
    sa.Column('diagnosis_code', sa.String(length=16), nullable=True),
    sa.Column('injury', sa.Boolean(), nullable=True),
    sa.Column('injury_override_reason', sa.Text(), nullable=True),
    sa.Column('refund_of_id', sa.Integer(), nullable=True),
    sa.Column('dept', sa.String(length=64), nullable=True),
    sa.Column('order_group', sa.String(length=64), nullable=True),
    sa.Column('source', sa.Enum('his', 'manual', name='charge_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('import_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('centre_line_no', sa.String(length=32), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['operator.id'], name=op.f('fk_charge_line_created_by_operator')),
    sa.ForeignKeyConstraint(['refund_of_id'], ['charge_line.id'], name=op.f('fk_charge_line_refund_of_id_charge_line')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_charge_line_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_line')),
    sa.UniqueConstraint('stay_id', 'import_fingerprint', name=op.f('uq_charge_line_stay_id_import_fingerprint')),
    sa.UniqueConstraint('stay_id', 'seq', name=op.f('uq_charge_line_stay_id_seq'))
    )
    op.create_table('diagnosis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('admitting', 'discharge', name='diagnosis_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('injury', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_diagnosis_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis')),
    sa.UniqueConstraint('stay_id', 'role', 'code', name=op.f('uq_diagnosis_stay_id_role_code'))
    )
    op.create_table('outbox_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('msgid', sa.String(length=32), nullable=False),
    sa.Column('txn_code', sa.String(length=8), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=True),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sent', 'succeeded', 'failed', 'reversed', name='outbox_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('reverses_msgid', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_outbox_entry_operator_id_operator')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_outbox_entry_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_entry')),
    sa.UniqueConstraint('msgid', name=op.f('uq_outbox_entry_msgid'))
    )
    op.create_table('settlement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stay_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('settlement', 'cancellation', name='settlement_kind_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('centre_settlement_id', sa.String(length=64), nullable=False),
    sa.Column('msgid', sa.String(length=32), nullable=False),
    sa.Column('settlement_kind', sa.String(length=16), nullable=False),
    sa.Column('settled_on', sa.Date(), nullable=False),
    sa.Column('settled_at', sa.DateTime(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('personal_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(kind = 'cancellation') = (reverses_id IS NOT NULL)", name=op.f('ck_settlement_cancellation_names_original')),
    sa.CheckConstraint('total_fen = fund_total_fen + personal_total_fen', name=op.f('ck_settlement_total_is_fund_plus_personal')),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_settlement_operator_id_operator')),
    sa.ForeignKeyConstraint(['reverses_id'], ['settlement.id'], name=op.f('fk_settlement_reverses_id_settlement')),
    sa.ForeignKeyConstraint(['stay_id'], ['stay.id'], name=op.f('fk_settlement_stay_id_stay')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement')),
    sa.UniqueConstraint('msgid', name=op.f('uq_settlement_msgid')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_settlement_reverses_id'))
    )
    op.create_table('claim_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('personal_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('deduction_fen', sa.BigInteger(), nullable=False),
    sa.Column('deduction_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['monthly_claim.id'], name=op.f('fk_claim_entry_claim_id_monthly_claim')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_claim_entry_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_entry')),
    sa.UniqueConstraint('settlement_id', name=op.f('uq_claim_entry_settlement_id'))
    )
    op.create_table('print_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('original', 'reprint', 'cancelled', name='print_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reprint_no', sa.Integer(), nullable=False),
    sa.Column('printer', sa.String(length=128), nullable=True),
    sa.Column('archive_path', sa.Text(), nullable=True),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('printed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'], name=op.f('fk_print_log_operator_id_operator')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_print_log_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_log'))
    )
    op.create_table('settlement_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('charge_line_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.Enum('fund', 'over_limit', 'self_pay', 'non_injury', name='bucket', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('category', sa.Enum('drug', 'treatment', 'consumable', 'rehab', 'device', name='charge_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('fund_fen', sa.BigInteger(), nullable=False),
    sa.Column('personal_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.CheckConstraint('amount_fen = fund_fen + personal_fen', name=op.f('ck_settlement_line_amount_is_fund_plus_personal')),
    sa.ForeignKeyConstraint(['charge_line_id'], ['charge_line.id'], name=op.f('fk_settlement_line_charge_line_id_charge_line')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_line_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line')),
    sa.UniqueConstraint('settlement_id', 'charge_line_id', name=op.f('uq_settlement_line_settlement_id_charge_line_id'))
    )
    op.create_table('settlement_matrix_cell',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.Enum('fund', 'over_limit', 'self_pay', 'non_injury', name='bucket', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('category', sa.Enum('drug', 'treatment', 'consumable', 'rehab', 'device', name='charge_category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_matrix_cell_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_matrix_cell')),
    sa.UniqueConstraint('settlement_id', 'bucket', 'category', name=op.f('uq_settlement_matrix_cell_settlement_id_bucket_category'))
    )


def downgrade() -> None:
    op.drop_table('settlement_matrix_cell')
    op.drop_table('settlement_line')
    op.drop_table('print_log')
    op.drop_table('claim_entry')
    op.drop_table('settlement')
    op.drop_table('outbox_entry')
    op.drop_table('diagnosis')
    op.drop_table('charge_line')
    op.drop_table('stay')
    op.drop_table('recognition_diagnosis')
    op.drop_table('monthly_claim')
    op.drop_table('injury_recognition')
    op.drop_table('filing')
    op.drop_table('worker')
