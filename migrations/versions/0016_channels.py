"""channels: a conversation's channel; connections, contacts, inbound ids, sent messages

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN (no batch copy on SQLite: it would lose partial indexes).
    op.add_column('conversations', sa.Column('channel', sa.String(length=16), server_default='web', nullable=False))
    op.add_column('conversations', sa.Column('channel_thread_id', sa.String(length=128), nullable=True))
    op.create_index('ix_conversations_channel', 'conversations', ['channel'], unique=False)
    op.create_table('channel_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('send_id', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('access_token_encrypted', sa.Text(), nullable=False),
    sa.Column('app_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('verify_token_encrypted', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('whatsapp', 'messenger', 'instagram')", name=op.f('ck_channel_connections_kind')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_channel_connections_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_connections')),
    sa.UniqueConstraint('kind', 'account_id', name=op.f('uq_channel_connections_kind')),
    )
    op.create_index(op.f('ix_channel_connections_site_id'), 'channel_connections', ['site_id'], unique=False)
    op.create_table('channel_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('visitor_id', sa.Integer(), nullable=False),
    sa.Column('last_inbound_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_contacts_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], name=op.f('fk_channel_contacts_visitor_id_visitors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_contacts')),
    sa.UniqueConstraint('connection_id', 'external_id', name=op.f('uq_channel_contacts_connection_id')),
    sa.UniqueConstraint('visitor_id', name=op.f('uq_channel_contacts_visitor_id')),
    )
    op.create_table('channel_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_inbound_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_channel_inbound_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_inbound')),
    sa.UniqueConstraint('connection_id', 'message_id', name=op.f('uq_channel_inbound_connection_id')),
    )
    op.create_index(op.f('ix_channel_inbound_conversation_id'), 'channel_inbound', ['conversation_id'], unique=False)
    op.create_table('channel_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'sent', 'delivered', 'read', 'failed')", name=op.f('ck_channel_messages_status')),
    sa.ForeignKeyConstraint(['connection_id'], ['channel_connections.id'], name=op.f('fk_channel_messages_connection_id_channel_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_channel_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['conversation_events.id'], name=op.f('fk_channel_messages_event_id_conversation_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_messages')),
    sa.UniqueConstraint('event_id', 'part', name=op.f('uq_channel_messages_event_id')),
    sa.UniqueConstraint('external_id', name=op.f('uq_channel_messages_external_id')),
    )
    op.create_index(op.f('ix_channel_messages_conversation_id'), 'channel_messages', ['conversation_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_channel_messages_conversation_id'), table_name='channel_messages')
    op.drop_table('channel_messages')
    op.drop_index(op.f('ix_channel_inbound_conversation_id'), table_name='channel_inbound')
    op.drop_table('channel_inbound')
    op.drop_table('channel_contacts')
    op.drop_index(op.f('ix_channel_connections_site_id'), table_name='channel_connections')
    op.drop_table('channel_connections')
    op.drop_index('ix_conversations_channel', table_name='conversations')
    op.drop_column('conversations', 'channel_thread_id')
    op.drop_column('conversations', 'channel')
