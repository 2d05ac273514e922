"""Smoke test for the CI wiring: the package imports and settings normalise DB URLs.

It needs no database, so it passes on both the SQLite and the PostgreSQL run of
scripts/test.sh and guarantees neither run collects zero tests.
"""

import importlib
import os

import pytest


def test_packages_import() -> None:
    bot = importlib.import_module("bot")
    models = importlib.import_module("storage.models")
    assert bot.PROJECT_ROOT.is_dir()
    # Importing the models registers the tables on SQLModel's metadata.
    assert models.SQLModel.metadata.tables


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_settings_async_database_url(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    from bot.config import Settings, async_database_url

    assert async_database_url(raw) == expected
    monkeypatch.setenv("DATABASE_URL", raw)
    # _env_file=None: a developer's .env must not leak into the test.
    settings = Settings(_env_file=None)
    assert settings.database_url == expected


async def test_database_round_trip(tmp_path) -> None:
    """The database the run targets accepts connections and keeps Chinese text.

    On the PostgreSQL run this checks the cluster scripts/postgres.sh made (UTF8,
    reachable through asyncpg); on the SQLite run it uses a temp file.
    """
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.config import async_database_url

    url = os.environ.get("STABOT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'smoke.db'}"
    engine = create_async_engine(async_database_url(url))
    try:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT :v"), {"v": "科协联络员"})).scalar_one()
    finally:
        await engine.dispose()
    assert value == "科协联络员"
