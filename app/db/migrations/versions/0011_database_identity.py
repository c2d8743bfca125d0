"""The database's identity: a site's or a demo's, written when the database is created.

`app.db.migrate.upgrade` inserts the one row when it creates the schema in an empty database;
a database that existed before this revision has no row and counts as a site's, so demo mode
refuses it (`app.db.identity`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.models

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('database_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('created_at', app.db.models.UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('site', 'demo')", name=op.f('ck_database_identity_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_database_identity'))
    )


def downgrade() -> None:
    op.drop_table('database_identity')
