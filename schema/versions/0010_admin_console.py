"""Admin console: invitations and password-reset links, agent preferences, the audit log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:10:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Invited (no password yet), the avatar's colour and the notification preferences (JSON).
    op.add_column('agents', sa.Column('invited', sa.Boolean, nullable=False, server_default='0'))
    op.add_column('agents', sa.Column('avatar_color', sa.String(7), nullable=True))
    op.add_column('agents', sa.Column('preferences', sa.String(400), nullable=True))
    # One-time links (invitation, password reset): only the SHA-256 of the token is kept.
    op.create_table(
        'agent_links',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('agent_id', sa.Integer, sa.ForeignKey('agents.id'), nullable=False),
        sa.Column('token_hash', _binary_string(64), nullable=False),
        sa.Column('purpose', sa.String(8), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('expires_at_ms', sa.BigInteger, nullable=False),
        sa.Column('used_at_ms', sa.BigInteger, nullable=True),
        sa.UniqueConstraint('token_hash', name='uq_agent_links_token'),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_agent_links_agent', 'agent_links', ['tenant_id', 'agent_id'])
    op.create_table(
        'audit_events',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('actor_id', sa.Integer, nullable=True),
        sa.Column('actor_name', sa.String(200), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('target_type', sa.String(32), nullable=False),
        sa.Column('target_id', sa.String(64), nullable=True),
        sa.Column('details', sa.Text, nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_audit_events_tenant', 'audit_events', ['tenant_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_tenant', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_index('ix_agent_links_agent', table_name='agent_links')
    op.drop_table('agent_links')
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('preferences')
        batch.drop_column('avatar_color')
        batch.drop_column('invited')
