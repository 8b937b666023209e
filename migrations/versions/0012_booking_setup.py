"""booking setup: a weekly limit per staff member or resource on services

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("booking_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weekly_limit", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("booking_services", schema=None) as batch_op:
        batch_op.drop_column("weekly_limit")
