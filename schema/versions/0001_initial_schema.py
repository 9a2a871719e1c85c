"""initial schema: tenants, agents, visitors, sessions, messages

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 15:49:10.716057
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('allowed_origins', sa.Text(), nullable=False),
    sa.Column('settings', sa.Text(), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_table('agents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'email', name='uq_agents_tenant_email'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_table('visitors',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_seen_at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.create_index('ix_visitors_tenant_email', ['tenant_id', 'email'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.String(length=32).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mysql'), nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('visitor_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assigned_agent_id', sa.Integer(), nullable=True),
    sa.Column('customer_name', sa.String(length=200), nullable=False),
    sa.Column('customer_email', sa.String(length=254), nullable=False),
    sa.Column('page_url', sa.String(length=1000), nullable=False),
    sa.Column('user_agent', sa.String(length=400), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('resolved_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_message_preview', sa.String(length=320), nullable=False),
    sa.Column('last_message_sender', sa.String(length=16), nullable=False),
    sa.Column('waiting_since_ms', sa.BigInteger(), nullable=True),
    sa.Column('agent_unread', sa.Integer(), nullable=False),
    sa.Column('agent_read_seq', sa.Integer(), nullable=False),
    sa.Column('visitor_read_seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], ),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_tenant_agent_updated', ['tenant_id', 'assigned_agent_id', 'updated_at_ms', 'id'], unique=False)
        batch_op.create_index('ix_sessions_tenant_status_updated', ['tenant_id', 'status', 'updated_at_ms', 'id'], unique=False)
        batch_op.create_index('ix_sessions_tenant_updated', ['tenant_id', 'updated_at_ms', 'id'], unique=False)
        batch_op.create_index('ix_sessions_visitor', ['visitor_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('session_id', sa.String(length=32).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mysql'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('sender_type', sa.String(length=16), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('sender_name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mariadb').with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=False),
    sa.Column('client_msg_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=True),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'sender_type', 'sender_id', 'client_msg_id', name='uq_messages_client_msg'),
    sa.UniqueConstraint('session_id', 'seq', name='uq_messages_session_seq'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_tenant', ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_tenant')

    op.drop_table('messages')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_visitor')
        batch_op.drop_index('ix_sessions_tenant_updated')
        batch_op.drop_index('ix_sessions_tenant_status_updated')
        batch_op.drop_index('ix_sessions_tenant_agent_updated')

    op.drop_table('sessions')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_index('ix_visitors_tenant_email')

    op.drop_table('visitors')
    op.drop_table('agents')
    op.drop_table('tenants')
