"""Engine and session factory; SQLite gets WAL and foreign keys, PostgreSQL a pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_inline

SessionFactory = async_sessionmaker[AsyncSession]
SQLITE_TIMEOUT = 30.0  # seconds a write waits for SQLite's lock before "database is locked"
SQLITE_POOL = 32  # pooled inline SQLite connections (and as many more on overflow)
READ_ONLY = "stabot_read_only"  # execution option of `reading_factory`'s connections


def is_sqlite(url: str) -> bool:
    """Whether the URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, threaded: bool = False) -> AsyncEngine:
    """Create the async engine, preparing a SQLite file's folder and pragmas.

    ``threaded``: SQLite through aiosqlite's thread instead of inline on the event loop (see
    storage/sqlite_inline.py), for work whose single queries run long enough to stall the loop.
    """
    if is_sqlite(url):
        database = make_url(url).database or ":memory:"
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if threaded:
            engine = create_async_engine(url, connect_args={"timeout": SQLITE_TIMEOUT})
        else:
            connect = sqlite_inline.connector(database, timeout=SQLITE_TIMEOUT)
            # Inline connections cost no thread; a pool as large as the updates in hand at
            # once keeps them open instead of reopening one (and its pragmas) per transaction.
            engine = create_async_engine(
                url, async_creator=connect, pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL
            )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run beside the one writer. With WAL, synchronous=NORMAL syncs at
    # checkpoints instead of every commit: a crash of the app loses nothing, and only a power
    # loss can drop the last commits (SQLite's recommended setting for WAL).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails with "database is locked" when
    # another connection wrote in between; taking the write lock up front makes it wait instead.
    # A read-only one (`reading_factory`) stays deferred: in WAL mode it reads a snapshot and
    # neither waits for the writer nor holds it up.
    # Straight to the driver: SQLAlchemy's statement execution costs more than the BEGIN.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    cursor = connection.connection.dbapi_connection.cursor()
    cursor.execute("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
    cursor.close()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """A factory of sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def reading_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for long reads that write nothing, such as a big export.

    On SQLite their transactions begin deferred and read one snapshot of the file while other
    connections go on writing; on PostgreSQL they are plain transactions (its reads never
    block writers). Writing through them is a mistake: on SQLite it may fail as busy.
    """
    return session_factory(engine.execution_options(**{READ_ONLY: True}))


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One session, committed when the block succeeds and rolled back when it raises."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
