"""People across channels: addresses, identities, and the migration of Telegram users."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import identities_repo, users_repo
from storage.db import create_engine, session_factory, transaction
from storage.identity_models import CHANNEL_BASE, Channel, channel_of, row_id_of
from storage.migrate import alembic_config

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_addresses_name_their_channel():
    assert channel_of(123456789) == Channel.TELEGRAM
    assert channel_of(-1001234567890) == Channel.TELEGRAM  # a Telegram group
    assert channel_of(CHANNEL_BASE[Channel.WECOM] + 7) == Channel.WECOM
    assert row_id_of(CHANNEL_BASE[Channel.WECOM] + 7) == 7
    assert row_id_of(123456789) is None
    assert 2**53 < CHANNEL_BASE[Channel.WECOM] < 2**63  # above Telegram's ids, in a BIGINT


async def test_a_telegram_user_gets_a_telegram_identity(sessions):
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session, telegram_id=4242, username="li", now=NOW
        )
        assert user.telegram_id == 4242
        assert user.last_channel == Channel.TELEGRAM
        assert await identities_repo.addresses_of(session, user) == [(Channel.TELEGRAM, 4242)]
        identity = await identities_repo.identity_at(session, 4242)
        assert identity is not None and identity.user_id == user.id


async def test_a_wecom_person_has_a_wecom_key_and_can_link_telegram(sessions):
    async with transaction(sessions) as session:
        person, address = await users_repo.meet(session, Channel.WECOM, "ZhangSan", now=NOW)
        assert person.telegram_id == address
        assert channel_of(address) == Channel.WECOM
        again, same = await users_repo.meet(session, Channel.WECOM, "ZhangSan", now=NOW)
        assert (again.id, same) == (person.id, address)
        assert (await users_repo.person_at(session, address)).id == person.id
        await identities_repo.add_identity(
            session, channel=Channel.TELEGRAM, external_id="777", now=NOW, user_id=person.id
        )
        via_telegram = await users_repo.upsert_user(
            session=session, telegram_id=777, username=None, now=NOW
        )
        assert via_telegram.id == person.id
        assert via_telegram.last_channel == Channel.TELEGRAM
        assert await identities_repo.addresses_of(session, person) == [
            (Channel.WECOM, address),
            (Channel.TELEGRAM, 777),
        ]


async def test_the_migration_gives_every_telegram_user_an_identity(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    await _upgrade(engine, "0011_merge_delivery")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO tg_user (telegram_id, active, blocked_bot, created_at) "
                "VALUES (5150, 1, 0, '2026-01-02 03:04:05.000000')"
            )
        )
    await _upgrade(engine, "heads")
    async with transaction(session_factory(engine)) as session:
        user = await users_repo.get_user(session=session, telegram_id=5150)
        assert user is not None and user.last_channel == Channel.TELEGRAM
        assert user.reach == "last"
        identity = await identities_repo.find_identity(session, Channel.TELEGRAM, "5150")
        assert identity is not None and identity.user_id == user.id
    await engine.dispose()


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
