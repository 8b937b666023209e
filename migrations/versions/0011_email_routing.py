"""email routing: alert rules, digest items, the owner's email wording

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('user_ids', sa.JSON(), nullable=False),
    sa.Column('emails', sa.JSON(), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("delivery IN ('immediate', 'hourly', 'daily')", name=op.f('ck_alert_rules_delivery')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_alert_rules_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    )
    op.create_index(op.f('ix_alert_rules_site_id'), 'alert_rules', ['site_id'], unique=False)
    op.create_table('alert_digest_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('line', sa.String(length=500), nullable=False),
    sa.Column('link', sa.String(length=2000), nullable=False),
    sa.Column('due_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alert_digest_items_rule_id_alert_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_digest_items')),
    )
    op.create_index('ix_alert_digest_items_due', 'alert_digest_items', ['sent_at', 'due_at'], unique=False)
    op.create_table('email_templates',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=250), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'], name=op.f('fk_email_templates_updated_by_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_email_templates')),
    )


def downgrade():
    op.drop_table('email_templates')
    op.drop_index('ix_alert_digest_items_due', table_name='alert_digest_items')
    op.drop_table('alert_digest_items')
    op.drop_index(op.f('ix_alert_rules_site_id'), table_name='alert_rules')
    op.drop_table('alert_rules')
