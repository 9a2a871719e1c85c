"""E-mail to visitors: the outbox of e-mails (durable schedule and sent marks) and unsubscribed addresses

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 09:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def _binary_string(length: int):
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # One row per e-mail: what it holds (a session's messages from_seq < seq <= upto_seq), to whom, and
    # its delivery: next attempt due (NULL once sent or given up), attempts (each a claim), sent at.
    op.create_table(
        'mail_outbox',
        sa.Column('id', _big_id(), primary_key=True, autoincrement=True),
        sa.Column('mail_key', _binary_string(100), nullable=False),
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), nullable=False),
        sa.Column('session_id', _binary_string(32), sa.ForeignKey('sessions.id'), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('to_addr', sa.String(254), nullable=False),
        sa.Column('from_seq', sa.Integer, nullable=False),
        sa.Column('upto_seq', sa.Integer, nullable=False),
        sa.Column('base_url', sa.String(300), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        sa.Column('next_attempt_at_ms', sa.BigInteger, nullable=True),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('sent_at_ms', sa.BigInteger, nullable=True),
        sa.Column('last_error', sa.String(200), nullable=True),
        sa.UniqueConstraint('mail_key', name='uq_mail_outbox_key'),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index('ix_mail_outbox_due', 'mail_outbox', ['next_attempt_at_ms'])
    op.create_index('ix_mail_outbox_session', 'mail_outbox', ['session_id'])
    # Addresses that asked for no more e-mail from a tenant (stored lower-cased).
    op.create_table(
        'mail_unsubscribes',
        sa.Column('tenant_id', _binary_string(64), sa.ForeignKey('tenants.id'), primary_key=True),
        sa.Column('email', sa.String(254), primary_key=True),
        sa.Column('created_at_ms', sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table('mail_unsubscribes')
    op.drop_index('ix_mail_outbox_session', table_name='mail_outbox')
    op.drop_index('ix_mail_outbox_due', table_name='mail_outbox')
    op.drop_table('mail_outbox')
