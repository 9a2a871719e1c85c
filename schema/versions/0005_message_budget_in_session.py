"""Messages per session and sender counted in the session row (a fixed window per sender type)

The send path already locks the session row; counting there makes the limit exact across
workers and costs no Redis round trip.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:55:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = ("visitor_window_start_ms", "visitor_window_count", "agent_window_start_ms", "agent_window_count")


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        for name in COLUMNS:
            kind = sa.BigInteger() if name.endswith("_ms") else sa.Integer()
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
