"""File attachments: uploads kept per session, and the files a message was sent with

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', _binary_string(32), primary_key=True),
        sa.Column('tenant_id', _binary_string(64), nullable=False),
        sa.Column('session_id', _binary_string(32), sa.ForeignKey('sessions.id'), nullable=False),
        sa.Column('uploader_type', sa.String(16), nullable=False),
        sa.Column('uploader_id', sa.Integer, nullable=False),
        sa.Column('filename', sa.String(255), nullable=False),
        sa.Column('content_type', sa.String(100), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('size_bytes', sa.Integer, nullable=False),
        sa.Column('data', sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_attachments_session', 'attachments', ['session_id'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('attachments')
    op.drop_index('ix_attachments_session', table_name='attachments')
    op.drop_table('attachments')
