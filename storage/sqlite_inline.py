"""SQLite for the async engine without a helper thread: each sqlite3 call runs on the loop.

aiosqlite hands every call (cursor, execute, fetch, close, commit) to its own thread and
waits for the answer; for our short statements on a local file the hand-offs cost more than
the SQL itself (about 0.1 ms each, more than thirty per form step). This module offers the
small part of aiosqlite's interface that SQLAlchemy's ``sqlite+aiosqlite`` dialect uses, and
runs the sqlite3 calls directly. The loop never blocks on a lock: the busy timeout is zero,
a write transaction first takes an in-process asyncio lock (SQLite has one writer anyway),
and "database is locked" caused by another process is retried after an asyncio sleep until
the timeout runs out, as SQLite's own busy handler would.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
FIRST_DELAY = 0.001  # seconds before retrying a busy database; doubles up to MAX_DELAY
MAX_DELAY = 0.05
# A deferred BEGIN (a read-only snapshot in WAL mode) takes no write lock, so it does not wait.
_WRITE_BEGINS = frozenset({"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"})


class WriteGate:
    """The one-writer rule of a database file, kept in this process with an asyncio lock."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        """The lock for the running loop (tests run one loop per test)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


_GATES: dict[str, WriteGate] = {}


def gate_for(database: str) -> WriteGate:
    """The gate shared by every connection of this process to one database file."""
    key = database if database == ":memory:" else os.path.realpath(database)
    return _GATES.setdefault(key, WriteGate())


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python < 3.11 carries no error code
        return "database is locked" in str(error)
    return code & 0xFF == sqlite3.SQLITE_BUSY


class Connection:
    """One sqlite3 connection, driven inline with aiosqlite's coroutine interface."""

    def __init__(self, raw: sqlite3.Connection, gate: WriteGate, timeout: float) -> None:
        self._connection: sqlite3.Connection | None = raw
        self._conn = raw  # SQLAlchemy's isolation-level setter reaches for this name
        self._tx = _Immediately()  # ... and hands its function to this queue
        self._gate = gate
        self._timeout = timeout
        self._held: asyncio.Lock | None = None

    @property
    def isolation_level(self) -> str | None:
        """The sqlite3 isolation level (None: autocommit)."""
        return self._raw().isolation_level

    def cursor(self) -> Cursor:
        """A new cursor (SQLAlchemy enters it with ``async with``)."""
        return Cursor(self, self._raw().cursor())

    async def begin(self, run: Callable[[], T]) -> T:
        """Run a BEGIN statement once this process's write lock is ours."""
        if self._held is not None:  # already ours: let SQLite refuse the nested BEGIN
            return await self.retry(run)
        lock = self._gate.lock()
        deadline = time.monotonic() + self._timeout
        if lock.locked():
            try:
                await asyncio.wait_for(lock.acquire(), self._timeout)
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
        else:
            await lock.acquire()  # free: returns without yielding to the loop
        self._held = lock
        try:
            return await self.retry(run, deadline)
        except BaseException:
            self._release()
            raise

    async def retry(self, run: Callable[[], T], deadline: float | None = None) -> T:
        """Run one sqlite3 call, waiting on the loop while another process holds the lock."""
        deadline = deadline if deadline is not None else time.monotonic() + self._timeout
        delay = FIRST_DELAY
        while True:
            try:
                return run()
            except sqlite3.OperationalError as error:
                if not is_busy(error) or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    async def commit(self) -> None:
        """Commit, and let the next writer in."""
        await self.retry(self._raw().commit)
        self._release()

    async def rollback(self) -> None:
        """Roll back, and let the next writer in."""
        try:
            self._raw().rollback()
        finally:
            self._release()

    async def close(self) -> None:
        """Close the connection (a second close does nothing)."""
        self.stop()

    def stop(self) -> None:
        """Close at once; SQLAlchemy calls this when it discards a connection."""
        raw, self._connection = self._connection, None
        self._release()
        if raw is not None:
            raw.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register a Python function with SQLite (SQLAlchemy adds regexp and floor)."""
        self._raw().create_function(*args, **kwargs)

    def _raw(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("Connection closed")
        return self._connection

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None and held.locked():
            held.release()


class Cursor:
    """A sqlite3 cursor with aiosqlite's coroutine methods."""

    def __init__(self, connection: Connection, raw: sqlite3.Cursor) -> None:
        self._owner = connection
        self._cursor = raw

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        """Run one statement; a BEGIN that takes the write lock waits for it first."""
        args = () if parameters is None else parameters
        run = lambda: self._cursor.execute(sql, args)  # noqa: E731
        if sql.lstrip()[:15].upper() in _WRITE_BEGINS:
            await self._owner.begin(run)
        else:
            await self._owner.retry(run)
        return self

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        """Run one statement for many parameter rows."""
        rows = list(rows)  # a retry must see the rows again
        await self._owner.retry(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` rows."""
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        """The remaining rows."""
        return self._cursor.fetchall()

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    @property
    def description(self) -> Any:
        """Column descriptions of the last query."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """Row id of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows fetched by ``fetchmany`` by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediately:
    """Stands in for aiosqlite's request queue: runs ``(future, function)`` at once."""

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(error)


def connector(database: str, *, timeout: float) -> Callable[[], Any]:
    """The ``async_creator`` of an engine: opens inline connections to ``database``."""
    gate = gate_for(database)

    async def connect() -> Connection:
        # check_same_thread=False: SQLAlchemy may close a discarded connection from the
        # garbage collector; every other call comes from the loop's own thread.
        raw = sqlite3.connect(database, timeout=0, check_same_thread=False)
        return Connection(raw, gate, timeout)

    return connect
