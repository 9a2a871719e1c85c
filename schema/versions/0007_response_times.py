"""Analytics: each conversation's first answer (agent or AI) and first human answer, and an index
for the conversations started in a date range

The two times are set by the send that writes the answer; existing conversations get them from
their messages here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_response_at_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_agent_response_at_ms', sa.BigInteger(), nullable=True))
    op.create_index('ix_sessions_tenant_created', 'sessions', ['tenant_id', 'created_at_ms'])
    op.execute(
        "UPDATE sessions SET "
        "first_response_at_ms = (SELECT MIN(m.created_at_ms) FROM messages m "
        "WHERE m.session_id = sessions.id AND m.sender_type IN ('agent', 'ai')), "
        "first_agent_response_at_ms = (SELECT MIN(m.created_at_ms) FROM messages m "
        "WHERE m.session_id = sessions.id AND m.sender_type = 'agent')")


def downgrade() -> None:
    op.drop_index('ix_sessions_tenant_created', table_name='sessions')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('first_agent_response_at_ms')
        batch_op.drop_column('first_response_at_ms')
