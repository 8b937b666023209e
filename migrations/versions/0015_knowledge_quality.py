"""knowledge quality: owner synonyms, passage embeddings (pgvector when present), knowledge
gaps, and the providers' embedding model

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:10:00
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _enable_pgvector(bind) -> bool:
    """Whether the vector extension is there to use: already created (by an administrator,
    say), or created now by this user (a superuser, or an owner where pgvector is trusted).
    When it cannot be, passages are ranked by brute force and the migration carries on: a
    permission error must not stop an install."""
    if bind.dialect.name != "postgresql":
        return False
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar():
        return True
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).scalar()
    if not available:
        return False
    try:
        # In a savepoint: a refusal would otherwise abort the migration's transaction.
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        return False
    return True


def upgrade():
    op.create_table(
        "knowledge_synonyms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("words", sa.String(length=500), nullable=False),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_synonyms")),
    )
    op.create_table(
        "passage_embeddings",
        sa.Column("chunk_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=400), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["article_chunks.id"],
            name=op.f("fk_passage_embeddings_chunk_id_article_chunks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_passage_embeddings")),
    )
    with op.batch_alter_table("passage_embeddings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passage_embeddings_model"), ["model"], unique=False)
    bind = op.get_bind()
    if _enable_pgvector(bind):
        # Made by hand, like the tsvector: dense retrieval then ranks in SQL (``<=>``). An
        # untyped vector column takes any model's dimensions.
        op.execute("ALTER TABLE passage_embeddings ADD COLUMN embedding_pgvector vector")

    op.create_table(
        "knowledge_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("dismissed_at", asthron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", asthron.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('abstained', 'handed_off', 'marked_wrong')",
            name=op.f("ck_knowledge_gaps_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_knowledge_gaps_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["conversation_events.id"],
            name=op.f("fk_knowledge_gaps_event_id_conversation_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_gaps")),
        sa.UniqueConstraint("event_id", "reason", name=op.f("uq_knowledge_gaps_event_id")),
    )
    with op.batch_alter_table("knowledge_gaps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_gaps_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_knowledge_gaps_created_at"), ["created_at"], unique=False)

    # Existing rows get "" (no embedding model); the default is the models' afterwards.
    with op.batch_alter_table("provider_configs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("embedding_model", sa.String(length=200), server_default="", nullable=False)
        )
    with op.batch_alter_table("provider_configs", schema=None) as batch_op:
        batch_op.alter_column("embedding_model", server_default=None)


def downgrade():
    with op.batch_alter_table("provider_configs", schema=None) as batch_op:
        batch_op.drop_column("embedding_model")
    with op.batch_alter_table("knowledge_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_gaps_created_at"))
        batch_op.drop_index(batch_op.f("ix_knowledge_gaps_conversation_id"))
    op.drop_table("knowledge_gaps")
    with op.batch_alter_table("passage_embeddings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passage_embeddings_model"))
    op.drop_table("passage_embeddings")
    op.drop_table("knowledge_synonyms")
