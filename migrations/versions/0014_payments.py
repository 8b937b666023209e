"""payments: Stripe settings, payments, Stripe events (unique ids), refunds; refund policy

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:10:34.746457
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payment_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_key_encrypted", sa.Text(), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("last_check_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_check_result", sa.String(length=500), nullable=False),
        sa.Column("updated_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_settings")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("booking_reference", sa.String(length=32), nullable=True),
        sa.Column("return_url", sa.String(length=2000), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.String(length=2000), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("expires_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('booking', 'request')", name=op.f("ck_payments_kind")),
        sa.CheckConstraint(
            "status IN ('created', 'open', 'paid', 'expired', 'failed', 'refunded')",
            name=op.f("ck_payments_status"),
        ),
        sa.CheckConstraint(
            "amount_cents > 0 AND refunded_cents >= 0 AND refunded_cents <= amount_cents",
            name=op.f("ck_payments_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_payments_booking_id_bookings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_payments_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_payments_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_payments_site_id_sites"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_payments_booking_id")),
        sa.UniqueConstraint("checkout_session_id", name=op.f("uq_payments_checkout_session_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_booking_reference"), ["booking_reference"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payments_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payments_payment_intent_id"), ["payment_intent_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payments_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            "ix_payments_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stripe_refund_id", sa.String(length=255), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_payment_refunds_status")
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_payment_refunds_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_refunds_idempotency_key")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_refunds_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "payment_stripe_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("received_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_stripe_events_payment_id_payments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_stripe_events")),
        sa.UniqueConstraint(
            "stripe_event_id", name=op.f("uq_payment_stripe_events_stripe_event_id")
        ),
    )
    with op.batch_alter_table("payment_stripe_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_stripe_events_payment_id"), ["payment_id"], unique=False
        )

    with op.batch_alter_table("booking_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refund_policy", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("booking_services", schema=None) as batch_op:
        batch_op.drop_column("refund_policy")

    with op.batch_alter_table("payment_stripe_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_stripe_events_payment_id"))

    op.drop_table("payment_stripe_events")
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_payment_id"))

    op.drop_table("payment_refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status_created_at")
        batch_op.drop_index(batch_op.f("ix_payments_site_id"))
        batch_op.drop_index(batch_op.f("ix_payments_payment_intent_id"))
        batch_op.drop_index(batch_op.f("ix_payments_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_payments_booking_reference"))

    op.drop_table("payments")
    op.drop_table("payment_settings")
