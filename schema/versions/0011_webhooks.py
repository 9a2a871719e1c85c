"""Webhooks: endpoints per tenant and their deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:10:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'webhooks',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('url', sa.String(2000), nullable=False),
        sa.Column('events', sa.String(400), nullable=False),
        # The signing secret, encrypted with a key derived from CALLCENTER_SECRET_KEY.
        sa.Column('secret', sa.String(200), nullable=False),
        sa.Column('active', sa.Boolean, nullable=False),
        sa.Column('disabled_reason', sa.String(200), nullable=True),
        sa.Column('failing_since_ms', sa.BigInteger, nullable=True),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('updated_at_ms', sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_webhooks_tenant', 'webhooks', ['tenant_id'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), nullable=False),
        sa.Column('webhook_id', _big_id(), sa.ForeignKey('webhooks.id', ondelete='CASCADE'), nullable=False),
        sa.Column('event', sa.String(40), nullable=False),
        sa.Column('event_id', _binary_string(64), nullable=False),
        sa.Column('status_code', sa.Integer, nullable=True),
        sa.Column('error', sa.String(200), nullable=True),
        sa.Column('duration_ms', sa.Integer, nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('delivered', sa.Boolean, nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('last_attempt_at_ms', sa.BigInteger, nullable=True),
        sa.Column('next_attempt_at_ms', sa.BigInteger, nullable=True),
        sa.UniqueConstraint('webhook_id', 'event_id', name='uq_webhook_deliveries_event'),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_webhooks_tenant', table_name='webhooks')
    op.drop_table('webhooks')
