"""privacy page per site (text, version, effective date); consent's page version; visitor phone

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('privacy_policy_text', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('privacy_policy_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('privacy_policy_effective', sa.Date(), nullable=True))
    # The defaults only filled the existing rows; the models give new rows their values.
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.alter_column('privacy_policy_text', server_default=None)
        batch_op.alter_column('privacy_policy_version', server_default=None)
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_policy_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_column('phone')
        batch_op.drop_column('consent_policy_version')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('privacy_policy_effective')
        batch_op.drop_column('privacy_policy_version')
        batch_op.drop_column('privacy_policy_text')
