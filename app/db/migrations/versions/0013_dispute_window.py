"""A deduction's dispute window only where a seed sets one: `claim_deduction.dispute_due` nullable.

Guangdong's hospital answers within 10 working days of the agency's push (`003 §20`); Jilin records
refusals but sets no window (`002 经办规程 §23`), nor do Beijing (`001 §33`) or the national pilot
(`000 §31`). Deductions of claims under those profiles lose the 10-day date they were given. Dates
counted from the day the counter fetched the answer are corrected to the push day the centre
reports (3302 `audited`) the next time the answer is fetched (`app.claims.upload`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The profiles whose seeds set no dispute window, as of this revision (resources/profiles/*.toml).
_NO_WINDOW = ("jilin-intra", "beijing-cross", "national-cross")


def upgrade() -> None:
    with op.batch_alter_table('claim_deduction') as batch:
        batch.alter_column('dispute_due', existing_type=sa.Date(), nullable=True)
    names = ", ".join(f"'{name}'" for name in _NO_WINDOW)
    op.execute(
        "UPDATE claim_deduction SET dispute_due = NULL WHERE claim_entry_id IN ("
        "SELECT claim_entry.id FROM claim_entry JOIN monthly_claim ON monthly_claim.id = claim_entry.claim_id "
        f"WHERE monthly_claim.profile IN ({names}))")


def downgrade() -> None:
    # A deduction without a window gets its notice day as its "due" day: disputes stay recordable by hand.
    op.execute("UPDATE claim_deduction SET dispute_due = notified_on WHERE dispute_due IS NULL")
    with op.batch_alter_table('claim_deduction') as batch:
        batch.alter_column('dispute_due', existing_type=sa.Date(), nullable=False)
