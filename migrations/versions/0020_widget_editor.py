"""widget editor: the widget's theme, launcher text, reply time and avatar

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 03:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('theme', sa.String(length=8), server_default='auto', nullable=False))
        batch_op.add_column(sa.Column('launcher_text', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('reply_time', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('avatar_digest', sa.String(length=64), nullable=True))
        batch_op.create_check_constraint('theme', "theme IN ('auto', 'light', 'dark')")

    op.create_table('site_avatars',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=16), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_avatars_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_site_avatars')),
    )


def downgrade():
    op.drop_table('site_avatars')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sites_theme'), type_='check')
        batch_op.drop_column('avatar_digest')
        batch_op.drop_column('reply_time')
        batch_op.drop_column('launcher_text')
        batch_op.drop_column('theme')
