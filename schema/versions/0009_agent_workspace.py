"""Agent workspace: private notes' mentions, canned responses, labels, satisfaction ratings

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A note's mentioned agents (a JSON array of ids), NULL for every other message.
    op.add_column('messages', sa.Column('mentions', sa.String(400), nullable=True))
    # The conversation's labels, denormalized for display (a JSON array of names; session_labels is
    # what filters and counts), and the visitor's rating of its current resolution.
    op.add_column('sessions', sa.Column('labels', sa.String(1000), nullable=False, server_default='[]'))
    op.add_column('sessions', sa.Column('rating_score', sa.SmallInteger, nullable=True))
    op.add_column('sessions', sa.Column('rating_comment', sa.String(1000), nullable=True))
    op.add_column('sessions', sa.Column('rated_at_ms', sa.BigInteger, nullable=True))
    op.create_index('ix_sessions_tenant_rated', 'sessions', ['tenant_id', 'rated_at_ms'])

    op.create_table(
        'canned_responses',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('shortcut', _binary_string(32), nullable=False),
        sa.Column('title', sa.String(100), nullable=False),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('updated_at_ms', sa.BigInteger, nullable=False),
        sa.UniqueConstraint('tenant_id', 'shortcut', name='uq_canned_responses_shortcut'),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        'labels',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('name', sa.String(40), nullable=False),
        # The name folded to lower case: unique per tenant, so "VIP" and "vip" are one label.
        sa.Column('name_key', _binary_string(40), nullable=False),
        sa.Column('color', sa.String(7), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.UniqueConstraint('tenant_id', 'name_key', name='uq_labels_tenant_name'),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        'session_labels',
        sa.Column('session_id', _binary_string(32), sa.ForeignKey('sessions.id'), primary_key=True),
        sa.Column('label_id', _big_id(), sa.ForeignKey('labels.id'), primary_key=True),
        sa.Column('tenant_id', _binary_string(64), nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_session_labels_label', 'session_labels', ['tenant_id', 'label_id'])


def downgrade() -> None:
    op.drop_index('ix_session_labels_label', table_name='session_labels')
    op.drop_table('session_labels')
    op.drop_table('labels')
    op.drop_table('canned_responses')
    op.drop_index('ix_sessions_tenant_rated', table_name='sessions')
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('rated_at_ms')
        batch.drop_column('rating_comment')
        batch.drop_column('rating_score')
        batch.drop_column('labels')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('mentions')
