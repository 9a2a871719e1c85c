"""AI replies: session handoff flag, token usage per tenant and session

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:40:53.785196
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ai_usage',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('session_id', sa.String(length=32).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mysql'), nullable=True),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('total_tokens', sa.Integer(), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('ai_usage', schema=None) as batch_op:
        batch_op.create_index('ix_ai_usage_session', ['session_id'], unique=False)
        batch_op.create_index('ix_ai_usage_tenant_day', ['tenant_id', 'day'], unique=False)

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_at_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('handoff_reason', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('handoff_reason')
        batch_op.drop_column('handoff_at_ms')

    with op.batch_alter_table('ai_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_ai_usage_tenant_day')
        batch_op.drop_index('ix_ai_usage_session')

    op.drop_table('ai_usage')
