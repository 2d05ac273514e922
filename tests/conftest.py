"""Shared fixtures: one migrated database per run (SQLite, or PostgreSQL when
``STABOT_TEST_DATABASE_URL`` names one), emptied before each test; a frozen clock; settings."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.all_models  # noqa: F401
from bot import PROJECT_ROOT
from bot.common.clock import FrozenClock
from bot.config import Settings, async_database_url
from bot.services.knowledge import KnowledgeBase
from storage.db import SessionFactory, create_engine, is_sqlite, session_factory
from storage.migrate import upgrade_to_head

# The dense model embeds the bundled corpus in about 20 s of two cores: tests (and the
# `stabot` subprocesses they start) answer lexically unless they ask for it (test_knowledge_dense).
os.environ.setdefault("KNOWLEDGE_EMBEDDINGS", "none")

SUPERADMIN_ID = 900_000_001
# 2026-03-16 10:00 in Asia/Shanghai, a Monday.
START = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


# The same examples on every run (the suite is deterministic), and no per-example deadline: a
# loaded CI machine must not turn a slow example into a failure. Nor a slow draw: under load
# (or a collection of the whole suite's garbage) one draw of test_callback_data's buttons
# stalled for two seconds and the too_slow health check failed the suite.
hypothesis_settings.register_profile(
    "stabot",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile("stabot")


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("STABOT_TEST_DATABASE_URL")
    if url:
        return async_database_url(url)
    return f"sqlite+aiosqlite:///{tmp_root / 'stabot-test.db'}"


async def _reset_schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        if is_sqlite(url):
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        else:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await upgrade_to_head(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per test run."""
    url = _database_url(tmp_path_factory.mktemp("db"))
    asyncio.run(_reset_schema(url))
    yield url


async def empty_tables(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database, whose tables start empty."""
    engine = create_engine(database_url)
    await empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    """A session factory on the emptied test database."""
    return session_factory(engine)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when a test moves it."""
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, engine: AsyncEngine) -> Settings:
    """Settings for a test: the test database, a temporary data dir, no token."""
    return Settings(
        _env_file=None,
        bot_token=None,
        database_url=database_url,
        data_dir=tmp_path / "data",
        superadmin_ids=[SUPERADMIN_ID],
        bot_username="stabot_test_bot",
        knowledge={"warmup": False, "embeddings": "none"},
    )


@pytest.fixture(scope="session")
def indexed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus indexed once per run; tests copy it when they change it."""
    data_dir = tmp_path_factory.mktemp("kb")
    KnowledgeBase(data_dir / "knowledge").ensure_corpus(PROJECT_ROOT / "corpus")
    return data_dir


@pytest.fixture
def kb_settings(settings: Settings, indexed_dir: Path, tmp_path: Path) -> Settings:
    """Settings whose data dir holds the indexed bundled corpus (a copy of its own)."""
    data_dir = tmp_path / "kb-data"
    shutil.copytree(indexed_dir, data_dir)
    return settings.model_copy(update={"data_dir": data_dir})
