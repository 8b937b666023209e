"""privacy: erasure tombstones, retention windows, visitors' email opt-out

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('erasure_tombstones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_tombstones')),
    sa.UniqueConstraint('digest', name=op.f('uq_erasure_tombstones_digest'))
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_opt_out_at', asthron.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('retention_windows',
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('category', name=op.f('pk_retention_windows'))
    )


def downgrade():
    op.drop_table('retention_windows')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_column('email_opt_out_at')
    op.drop_table('erasure_tombstones')
