"""booking lifecycle: reminders, customer links, no-show status, invitation sequence

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('held', 'pending', 'confirmed', 'cancelled', 'expired', 'rejected')"
NEW_STATUSES = (
    "status IN ('held', 'pending', 'confirmed', 'cancelled', 'expired', 'rejected', 'no_show')"
)


def _references_to_bookings(bind) -> list[tuple[str, str, str]]:
    """(table, its primary key, its column) of every foreign key that points at bookings."""
    inspector = sa.inspect(bind)
    found = []
    for table in inspector.get_table_names():
        for key in inspector.get_foreign_keys(table):
            if key["referred_table"] == "bookings" and table != "bookings":
                primary = inspector.get_pk_constraint(table)["constrained_columns"][0]
                found.extend((table, primary, column) for column in key["constrained_columns"])
    return found


def _rebuild_bookings(alter):
    """On SQLite, changing a CHECK constraint copies the table and drops the old one, and
    that drop fires the ON DELETE actions of the tables that point at bookings (a payment's
    booking_id would be set to NULL). Keep those links and put them back after the copy."""
    bind = op.get_bind()
    saved = []
    if bind.dialect.name == "sqlite":
        for table, primary, column in _references_to_bookings(bind):
            rows = bind.execute(
                sa.text(f"SELECT {primary}, {column} FROM {table} WHERE {column} IS NOT NULL")
            ).all()
            saved.append((table, primary, column, rows))
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        alter(batch_op)
    for table, primary, column, rows in saved:
        for row_id, booking_id in rows:
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = :booking WHERE {primary} = :id"),
                {"booking": booking_id, "id": row_id},
            )


def upgrade():
    def alter(batch_op):
        batch_op.add_column(
            sa.Column("ical_sequence", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("ck_bookings_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_bookings_status"), NEW_STATUSES)

    _rebuild_bookings(alter)

    op.create_table(
        "booking_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_reminders_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_reminders")),
        sa.UniqueConstraint("booking_id", "kind", name=op.f("uq_booking_reminders_booking_id")),
    )
    with op.batch_alter_table("booking_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_booking_reminders_due_at", ["due_at"], unique=False)

    op.create_table(
        "booking_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_links_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_booking_links_token_hash")),
    )
    with op.batch_alter_table("booking_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_links_booking_id"), ["booking_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("booking_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_links_booking_id"))
    op.drop_table("booking_links")
    with op.batch_alter_table("booking_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_reminders_due_at")
    op.drop_table("booking_reminders")
    # No-shows become cancellations: the narrower constraint would refuse them.
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status = 'no_show'")

    def alter(batch_op):
        batch_op.drop_constraint(batch_op.f("ck_bookings_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_bookings_status"), OLD_STATUSES)
        batch_op.drop_column("ical_sequence")

    _rebuild_bookings(alter)
