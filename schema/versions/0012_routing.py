"""Routing and availability: agent capacity, the routing queue, after-hours conversations, e-mail marks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:05:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # How many open conversations auto-assignment gives an agent, and when it last gave one (ties).
    op.add_column('agents', sa.Column('max_conversations', sa.Integer, nullable=False, server_default='5'))
    op.add_column('agents', sa.Column('last_assigned_at_ms', sa.BigInteger, nullable=True))
    # Waiting in the routing queue since (auto mode; NULL: not queued), and started outside business hours.
    op.add_column('sessions', sa.Column('queued_at_ms', sa.BigInteger, nullable=True))
    op.add_column('sessions', sa.Column('after_hours', sa.Boolean, nullable=False, server_default='0'))
    # E-mail continuity: the last agent reply e-mailed, and when the next e-mail is due.
    op.add_column('sessions', sa.Column('mail_sent_seq', sa.Integer, nullable=False, server_default='0'))
    op.add_column('sessions', sa.Column('mail_due_at_ms', sa.BigInteger, nullable=True))
    op.create_index('ix_sessions_tenant_queued', 'sessions', ['tenant_id', 'queued_at_ms', 'id'])
    op.create_index('ix_sessions_queued', 'sessions', ['queued_at_ms'])
    op.create_index('ix_sessions_mail_due', 'sessions', ['mail_due_at_ms'])


def downgrade() -> None:
    op.drop_index('ix_sessions_mail_due', table_name='sessions')
    op.drop_index('ix_sessions_queued', table_name='sessions')
    op.drop_index('ix_sessions_tenant_queued', table_name='sessions')
    for column in ('mail_due_at_ms', 'mail_sent_seq', 'after_hours', 'queued_at_ms'):
        op.drop_column('sessions', column)
    for column in ('last_assigned_at_ms', 'max_conversations'):
        op.drop_column('agents', column)
