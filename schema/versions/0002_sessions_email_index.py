"""sessions: index (tenant_id, customer_email) for a customer's other conversations

Store.visitor_history looks up a customer's sessions by visitor OR by email.
With only ix_sessions_visitor the email half had no index, so MariaDB walked
every session of the tenant (100k sessions: ~200 ms per session detail); with
both, it unions the two index ranges (index_merge) and sorts the few rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 16:45:00.000000
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_sessions_tenant_email', 'sessions', ['tenant_id', 'customer_email'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sessions_tenant_email', table_name='sessions')
