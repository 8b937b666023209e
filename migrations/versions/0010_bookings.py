"""bookings: services, staff and resources, bookings (no overlap on PostgreSQL), calendars

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:24:49.357394
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('booking_resources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('working_hours', sa.JSON(), nullable=True),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('staff', 'resource')", name=op.f('ck_booking_resources_kind')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_booking_resources_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_booking_resources_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_resources')),
    )
    with op.batch_alter_table('booking_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_resources_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_resources_user_id'), ['user_id'], unique=False)

    op.create_table('booking_services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_before_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_after_minutes', sa.Integer(), nullable=False),
    sa.Column('min_notice_minutes', sa.Integer(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('daily_limit', sa.Integer(), nullable=True),
    sa.Column('price_cents', sa.Integer(), nullable=True),
    sa.Column('deposit_cents', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('requires_approval', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('duration_minutes > 0 AND interval_minutes > 0', name=op.f('ck_booking_services_positive')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_booking_services_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_services')),
    sa.UniqueConstraint('site_id', 'slug', name=op.f('uq_booking_services_site_id')),
    )
    op.create_table('booking_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('calendar_url', sa.String(length=2000), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password_encrypted', sa.Text(), nullable=True),
    sa.Column('write_bookings', sa.Boolean(), nullable=False),
    sa.Column('synced_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], name=op.f('fk_booking_calendars_resource_id_booking_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_calendars')),
    sa.UniqueConstraint('resource_id', name=op.f('uq_booking_calendars_resource_id')),
    )
    op.create_table('booking_external_busy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], name=op.f('fk_booking_external_busy_resource_id_booking_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_external_busy')),
    )
    with op.batch_alter_table('booking_external_busy', schema=None) as batch_op:
        batch_op.create_index('ix_booking_external_busy_resource_id_starts_at', ['resource_id', 'starts_at'], unique=False)

    op.create_table('booking_service_resources',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], name=op.f('fk_booking_service_resources_resource_id_booking_resources'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['booking_services.id'], name=op.f('fk_booking_service_resources_service_id_booking_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'resource_id', name=op.f('pk_booking_service_resources')),
    )
    with op.batch_alter_table('booking_service_resources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_service_resources_resource_id'), ['resource_id'], unique=False)

    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('starts_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocks_from', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocks_until', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('hold_expires_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('customer_name', sa.String(length=120), nullable=False),
    sa.Column('customer_email', sa.String(length=320), nullable=True),
    sa.Column('customer_phone', sa.String(length=20), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('visitor_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('calendar_event_uid', sa.String(length=200), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('held', 'pending', 'confirmed', 'cancelled', 'expired', 'rejected')", name=op.f('ck_bookings_status')),
    sa.CheckConstraint('blocks_from < blocks_until', name=op.f('ck_bookings_range')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_bookings_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resources.id'], name=op.f('fk_bookings_resource_id_booking_resources'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['booking_services.id'], name=op.f('fk_bookings_service_id_booking_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], name=op.f('fk_bookings_visitor_id_visitors'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings')),
    sa.UniqueConstraint('reference', name=op.f('uq_bookings_reference')),
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bookings_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_bookings_resource_id_blocks_from', ['resource_id', 'blocks_from'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bookings_visitor_id'), ['visitor_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Made by hand, not by the models (asthron.bookings.models.NO_OVERLAP_CONSTRAINT):
        # no two blocking bookings of one resource overlap, buffers included.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist"
            " (resource_id WITH =, tstzrange(blocks_from, blocks_until, '[)') WITH &&)"
            " WHERE (status IN ('held', 'pending', 'confirmed'))"
        )



def downgrade():
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bookings_visitor_id'))
        batch_op.drop_index(batch_op.f('ix_bookings_service_id'))
        batch_op.drop_index('ix_bookings_resource_id_blocks_from')
        batch_op.drop_index(batch_op.f('ix_bookings_conversation_id'))

    op.drop_table('bookings')  # with ex_bookings_no_overlap
    if op.get_bind().dialect.name == "postgresql":
        # RESTRICT: stays if anything else uses it.
        op.execute("DROP EXTENSION IF EXISTS btree_gist")
    with op.batch_alter_table('booking_service_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_service_resources_resource_id'))

    op.drop_table('booking_service_resources')
    with op.batch_alter_table('booking_external_busy', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_external_busy_resource_id_starts_at')

    op.drop_table('booking_external_busy')
    op.drop_table('booking_calendars')
    op.drop_table('booking_services')
    with op.batch_alter_table('booking_resources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_resources_user_id'))
        batch_op.drop_index(batch_op.f('ix_booking_resources_site_id'))

    op.drop_table('booking_resources')
