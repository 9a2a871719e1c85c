"""Web Push: agents' devices (browser push subscriptions)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 11:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'push_subscriptions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), nullable=False),
        sa.Column('agent_id', sa.Integer, sa.ForeignKey('agents.id'), nullable=False),
        sa.Column('endpoint_hash', _binary_string(64), nullable=False),
        sa.Column('endpoint', sa.Text, nullable=False),
        sa.Column('p256dh', sa.String(100), nullable=False),
        sa.Column('auth', sa.String(40), nullable=False),
        sa.Column('user_agent', sa.String(400), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('last_success_at_ms', sa.BigInteger, nullable=True),
        sa.Column('failures', sa.Integer, nullable=False),
        sa.UniqueConstraint('endpoint_hash', name='uq_push_subscriptions_endpoint'),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_push_subscriptions_agent', 'push_subscriptions', ['tenant_id', 'agent_id'])


def downgrade() -> None:
    op.drop_index('ix_push_subscriptions_agent', table_name='push_subscriptions')
    op.drop_table('push_subscriptions')
