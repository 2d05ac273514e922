"""The inline SQLite driver: writers wait their turn on the loop instead of failing or blocking."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import db
from storage.db import create_engine, session_factory, transaction


@pytest.fixture
async def sessions(tmp_path: Path):
    """A session factory on a fresh SQLite file with one counter row."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    factory = session_factory(engine)
    async with transaction(factory) as session:
        await session.exec(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await session.exec(text("INSERT INTO counter VALUES (0)"))
    yield factory
    await engine.dispose()


async def _bump(factory, started: asyncio.Event | None = None, go: asyncio.Event | None = None):
    async with transaction(factory) as session:
        await session.exec(text("UPDATE counter SET n = n + 1"))
        if started is not None:
            started.set()
        if go is not None:
            await go.wait()  # hold the write lock while another writer asks for it


async def _count(factory) -> int:
    async with transaction(factory) as session:
        return (await session.exec(text("SELECT n FROM counter"))).one()[0]


async def test_a_second_writer_in_the_process_waits_for_the_first(sessions):
    started, go = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_bump(sessions, started, go))
    await started.wait()
    second = asyncio.create_task(_bump(sessions))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()  # queued behind the first, not failed with "database is locked"
    go.set()
    await asyncio.gather(first, second)
    assert await _count(sessions) == 2


async def test_a_lock_held_by_another_process_is_waited_for_on_the_loop(sessions, tmp_path):
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # like another process writing
    writer = asyncio.create_task(_bump(sessions))
    ticks = 0
    while ticks < 20:  # the loop keeps running while the writer waits
        await asyncio.sleep(0)
        ticks += 1
    assert not writer.done()
    other.execute("COMMIT")
    await writer
    other.close()
    assert await _count(sessions) == 1


async def test_a_lock_held_past_the_timeout_fails_as_locked(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "SQLITE_TIMEOUT", 0.05)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'short.db'}")
    factory = session_factory(engine)
    async with transaction(factory) as session:
        await session.exec(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(tmp_path / "short.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(Exception, match="database is locked"):
        async with transaction(factory) as session:
            await session.exec(text("INSERT INTO t VALUES (1)"))
    other.execute("ROLLBACK")
    other.close()
    async with transaction(factory) as session:  # the gate was released after the failure
        await session.exec(text("INSERT INTO t VALUES (2)"))
    await engine.dispose()


async def test_a_threaded_engine_and_an_inline_one_share_the_file(sessions, tmp_path):
    threaded = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", threaded=True)
    started, go = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_bump(sessions, started, go))
    await started.wait()
    waiting = asyncio.create_task(_bump(session_factory(threaded)))  # aiosqlite's busy wait
    for _ in range(5):
        await asyncio.sleep(0)
    go.set()
    await asyncio.gather(holder, waiting)
    await threaded.dispose()
    assert await _count(sessions) == 2
