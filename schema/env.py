"""Alembic environment: runs migrations through the product's own async engine URL."""
import asyncio
import concurrent.futures

from alembic import context
from callcenter.store import create_engine, metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    connect_args = {"charset": "utf8mb4"} if config.get_main_option("sqlalchemy.url").startswith("mysql") else {}
    engine = create_engine(config.get_main_option("sqlalchemy.url"), connect_args=connect_args)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    # On a thread of its own: asyncio.run() here would replace (then clear) the caller's
    # current event loop, and fails outright inside a running one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _run_online()).result()
