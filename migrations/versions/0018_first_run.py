"""first run: the widget's first load per site, each user's dashboard theme, the invitation
email's outbox row

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('widget_seen_at', asthron.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('theme', sa.String(length=8), server_default='auto', nullable=False))
        batch_op.create_check_constraint(op.f('ck_users_theme'), "theme IN ('auto', 'light', 'dark')")
    # The default only filled the existing rows; the model gives new rows their value.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('theme', server_default=None)
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_outbox_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('email_outbox_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_theme'), type_='check')
        batch_op.drop_column('theme')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('widget_seen_at')
