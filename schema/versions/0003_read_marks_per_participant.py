"""read marks per participant: each agent's and visitor's last read seq in a session

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:56:27.365994
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('read_marks',
    sa.Column('session_id', sa.String(length=32).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=32), 'mysql'), nullable=False),
    sa.Column('reader_type', sa.String(length=16), nullable=False),
    sa.Column('reader_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tenant_id', sa.String(length=64).with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mariadb').with_variant(mysql.VARCHAR(charset='utf8mb4', collation='utf8mb4_bin', length=64), 'mysql'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('updated_at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ),
    sa.PrimaryKeyConstraint('session_id', 'reader_type', 'reader_id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )


def downgrade() -> None:
    op.drop_table('read_marks')
