"""bookings' calendars: Google Calendar beside CalDAV, OAuth states, the event's ETag

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:08:25.871722
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Added to a table that may hold rows: filled in for them, then left to the application.
_FILLED = {
    'provider': "'caldav'",
    'calendars': "'[]'",
    'busy_calendar_ids': "'[]'",
    'write_calendar_id': "''",
    'created_at': 'CURRENT_TIMESTAMP',
}


def upgrade():
    op.create_table('booking_google_app',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=300), nullable=False),
    sa.Column('client_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_google_app')),
    )
    op.create_table('booking_google_oauth_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('user_session_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('code_verifier_encrypted', sa.Text(), nullable=False),
    sa.Column('expires_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], name=op.f('fk_booking_google_oauth_states_resource_id_booking_resources'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_session_id'], ['user_sessions.id'], name=op.f('fk_booking_google_oauth_states_user_session_id_user_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_google_oauth_states')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_booking_google_oauth_states_state_hash')),
    )
    with op.batch_alter_table('booking_google_oauth_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_google_oauth_states_user_session_id'), ['user_session_id'], unique=False)

    with op.batch_alter_table('booking_calendars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(length=16), nullable=False, server_default=sa.text(_FILLED['provider'])))
        batch_op.add_column(sa.Column('token_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('calendars', sa.JSON(), nullable=False, server_default=sa.text(_FILLED['calendars'])))
        batch_op.add_column(sa.Column('busy_calendar_ids', sa.JSON(), nullable=False, server_default=sa.text(_FILLED['busy_calendar_ids'])))
        batch_op.add_column(sa.Column('write_calendar_id', sa.String(length=1000), nullable=False, server_default=sa.text(_FILLED['write_calendar_id'])))
        batch_op.add_column(sa.Column('connected_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('broken_at', asthron.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False, server_default=sa.text(_FILLED['created_at'])))
        batch_op.create_foreign_key(batch_op.f('fk_booking_calendars_connected_by_id_users'), 'users', ['connected_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(batch_op.f('ck_booking_calendars_provider'), "provider IN ('caldav', 'google')")
    with op.batch_alter_table('booking_calendars', schema=None) as batch_op:
        for name in _FILLED:
            batch_op.alter_column(name, server_default=None)

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_event_where', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('calendar_event_etag', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('calendar_event_etag')
        batch_op.drop_column('calendar_event_where')

    with op.batch_alter_table('booking_calendars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_booking_calendars_provider'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_booking_calendars_connected_by_id_users'), type_='foreignkey')
        batch_op.drop_column('created_at')
        batch_op.drop_column('broken_at')
        batch_op.drop_column('connected_by_id')
        batch_op.drop_column('write_calendar_id')
        batch_op.drop_column('busy_calendar_ids')
        batch_op.drop_column('calendars')
        batch_op.drop_column('token_encrypted')
        batch_op.drop_column('provider')

    with op.batch_alter_table('booking_google_oauth_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_google_oauth_states_user_session_id'))

    op.drop_table('booking_google_oauth_states')
    op.drop_table('booking_google_app')
