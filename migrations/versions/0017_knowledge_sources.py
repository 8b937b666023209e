"""knowledge in: website sources, their pages and crawls; where an article came from

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:10:00
"""

import sqlalchemy as sa
from alembic import op

import asthron.db

revision = '0017'
# The brief named "0010_bookings"; the bookings revision's id is "0010".
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('knowledge_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('max_pages', sa.Integer(), nullable=False),
    sa.Column('recrawl_hours', sa.Integer(), nullable=False),
    sa.Column('publish_pages', sa.Boolean(), nullable=False),
    sa.Column('next_crawl_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_sources')),
    )
    op.create_table('knowledge_crawls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_knowledge_crawls_status')),
    sa.ForeignKeyConstraint(['source_id'], ['knowledge_sources.id'], name=op.f('fk_knowledge_crawls_source_id_knowledge_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_crawls')),
    )
    with op.batch_alter_table('knowledge_crawls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_crawls_source_id'), ['source_id'], unique=False)

    # Plain ADD COLUMNs, never a copy of the table: on SQLite, copying articles (batch mode)
    # drops the old table, and that cascade-deletes every article chunk.
    op.add_column('articles', sa.Column('source_kind', sa.String(length=16), server_default='manual', nullable=False))
    op.add_column('articles', sa.Column('source_file', sa.String(length=300), nullable=True))
    op.add_column('articles', sa.Column('source_type', sa.String(length=16), nullable=True))
    op.add_column('articles', sa.Column('knowledge_source_id', sa.Integer(), nullable=True))
    op.add_column('articles', sa.Column('retired_at', asthron.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_articles_knowledge_source_id'), 'articles', ['knowledge_source_id'], unique=False)

    op.create_table('knowledge_source_pages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('etag', sa.String(length=300), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('last_seen_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retired_at', asthron.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_knowledge_source_pages_article_id_articles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['knowledge_sources.id'], name=op.f('fk_knowledge_source_pages_source_id_knowledge_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_source_pages')),
    sa.UniqueConstraint('source_id', 'url', name=op.f('uq_knowledge_source_pages_source_id')),
    )
    with op.batch_alter_table('knowledge_source_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_source_pages_article_id'), ['article_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledge_source_pages_source_id'), ['source_id'], unique=False)

    op.create_table('knowledge_crawl_pages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crawl_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('created_at', asthron.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_knowledge_crawl_pages_article_id_articles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['crawl_id'], ['knowledge_crawls.id'], name=op.f('fk_knowledge_crawl_pages_crawl_id_knowledge_crawls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_crawl_pages')),
    )
    with op.batch_alter_table('knowledge_crawl_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_crawl_pages_crawl_id'), ['crawl_id'], unique=False)


def downgrade():
    with op.batch_alter_table('knowledge_crawl_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_crawl_pages_crawl_id'))
    op.drop_table('knowledge_crawl_pages')
    with op.batch_alter_table('knowledge_source_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_source_pages_source_id'))
        batch_op.drop_index(batch_op.f('ix_knowledge_source_pages_article_id'))
    op.drop_table('knowledge_source_pages')
    op.drop_index(op.f('ix_articles_knowledge_source_id'), table_name='articles')
    # Native DROP COLUMN (SQLite 3.35+), for the same reason as above: no copy of articles.
    for column in ('retired_at', 'knowledge_source_id', 'source_type', 'source_file', 'source_kind'):
        op.execute(f'ALTER TABLE articles DROP COLUMN {column}')
    with op.batch_alter_table('knowledge_crawls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_crawls_source_id'))
    op.drop_table('knowledge_crawls')
    op.drop_table('knowledge_sources')
