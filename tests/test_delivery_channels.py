"""What the bot sends on its own goes to each person on their channel(s): the last one they
wrote from, or all of them by their choice (reach); one outbox row per channel, never two on
one, and the report counts per channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.flows.base import Msg
from bot.flows.broadcast import report_reply
from bot.services import broadcasts
from storage import broadcasts_repo, identities_repo, reminders_repo, users_repo
from storage.broadcast_models import Broadcast, BroadcastDelivery, DeliveryStatus
from storage.db import transaction
from storage.identity_models import Channel, Reach, channel_of
from storage.models import User
from storage.reminder_models import NO_CYCLE, LedgerStatus, ReminderLedger

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def person_on_both(session, telegram_id: int, wecom_id: str, *, last: Channel, reach: Reach):
    """A Telegram-first person who linked WeCom; their WeCom address too."""
    user = await users_repo.upsert_user(
        session=session, telegram_id=telegram_id, username=None, now=NOW
    )
    identity = await identities_repo.add_identity(
        session, channel=Channel.WECOM, external_id=wecom_id, now=NOW, user_id=user.id
    )
    user.last_channel, user.reach = last.value, reach.value
    return user, identities_repo.address_of(identity)


async def test_reach_chooses_the_last_channel_or_all_and_never_nobody(sessions):
    async with transaction(sessions) as session:
        only_tg = await users_repo.upsert_user(
            session=session, telegram_id=5001, username=None, now=NOW
        )
        wecom_first, wecom_key = await users_repo.meet(session, Channel.WECOM, "WangWu", now=NOW)
        last_wecom, wecom_a = await person_on_both(
            session, 5002, "LiSi", last=Channel.WECOM, reach=Reach.LAST
        )
        everywhere, wecom_b = await person_on_both(
            session, 5003, "ZhaoLiu", last=Channel.TELEGRAM, reach=Reach.ALL
        )
        nowhere_known = await users_repo.upsert_user(
            session=session, telegram_id=5004, username=None, now=NOW
        )
        nowhere_known.last_channel = Channel.WECOM.value  # no WeCom identity: the key stands in
        await session.flush()
        ids = [only_tg.id, wecom_first.id, last_wecom.id, everywhere.id, nowhere_known.id]
        targets = await identities_repo.targets_of(session, ids)
    assert targets[only_tg.id] == [(Channel.TELEGRAM, 5001)]
    assert targets[wecom_first.id] == [(Channel.WECOM, wecom_key)]
    assert targets[last_wecom.id] == [(Channel.WECOM, wecom_a)]
    assert targets[everywhere.id] == [(Channel.TELEGRAM, 5003), (Channel.WECOM, wecom_b)]
    assert targets[nowhere_known.id] == [(Channel.TELEGRAM, 5004)]


async def test_a_reminder_goes_once_per_channel_and_a_second_hand_over_adds_nothing(sessions):
    async with transaction(sessions) as session:
        everywhere, wecom = await person_on_both(
            session, 5101, "QianQi", last=Channel.WECOM, reach=Reach.ALL
        )
        row = {
            "cycle_id": NO_CYCLE,
            "user_id": everywhere.id,
            "kind": "digest:2026-W50",
            "org_id": None,
            "chat_id": everywhere.telegram_id,
            "locale": "zh_CN",
            "payload": "{}",
            "status": LedgerStatus.PENDING.value,
            "due_at": NOW,
            "attempts": 0,
            "created_at": NOW,
        }
        group_row = {**row, "kind": "personal:1", "chat_id": -100123}
        assert await reminders_repo.insert_new(session=session, rows=[row, group_row]) == 3
        # A restart, a misfire catch-up or a second scheduler hands the same rows over again.
        assert await reminders_repo.insert_new(session=session, rows=[row, group_row]) == 0
        rows = (await session.exec(select(ReminderLedger).order_by(col(ReminderLedger.id)))).all()
    assert [(r.kind, r.channel, r.chat_id) for r in rows] == [
        ("digest:2026-W50", "telegram", 5101),
        ("digest:2026-W50", "wecom", wecom),
        ("personal:1", "telegram", -100123),  # set in a group: the group is reminded
    ]
    assert all(channel_of(r.chat_id).value == r.channel for r in rows)


async def broadcast_row(session) -> Broadcast:
    broadcast = Broadcast(created_by=1, audience="{}", text="通知", created_at=NOW)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def test_a_broadcast_row_per_channel_counted_per_channel_and_acknowledged_once(sessions):
    async with transaction(sessions) as session:
        everywhere, wecom = await person_on_both(
            session, 5201, "SunBa", last=Channel.TELEGRAM, reach=Reach.ALL
        )
        only_tg = await users_repo.upsert_user(
            session=session, telegram_id=5202, username=None, now=NOW
        )
        for user in (everywhere, only_tg):
            user.role, user.org_id = "info_officer", None
        broadcast = await broadcast_row(session)
        where = [col(User.id).in_([everywhere.id, only_tg.id])]
        targets = identities_repo.reach_targets()
        query = select(User.id, targets.c.address, targets.c.channel).join(
            targets, targets.c.user_id == User.id
        )
        chosen = (await session.exec(query.where(*where))).all()
        assert sorted(chosen) == sorted(
            [
                (everywhere.id, 5201, "telegram"),
                (everywhere.id, wecom, "wecom"),
                (only_tg.id, 5202, "telegram"),
            ]
        )
        for user_id, address, channel in chosen:
            session.add(
                BroadcastDelivery(
                    broadcast_id=broadcast.id,
                    user_id=user_id,
                    chat_id=address,
                    channel=channel,
                    status=DeliveryStatus.SENT,
                )
            )
        await session.flush()
        assert await broadcasts_repo.acknowledge(
            session=session, broadcast_id=broadcast.id, telegram_id=5201, now=NOW
        )
        acked, waiting = await broadcasts_repo.receipt_lists(
            session=session, broadcast_id=broadcast.id, limit=10
        )
        assert [u.id for u in acked] == [everywhere.id]  # once, though reached twice
        assert [u.id for u in waiting] == [only_tg.id]
        figures = await broadcasts.progress(session, broadcast.id)
    assert [(c.channel, c.sent, c.total) for c in figures.channels] == [
        ("telegram", 2, 2),
        ("wecom", 1, 1),
    ]
    texts = report_reply(broadcast, figures).texts
    per_channel = [m for m in texts if isinstance(m, Msg) and m.key == "broadcast.report_channel"]
    assert [m.params["channel"].key for m in per_channel] == [
        "broadcast.channel.telegram",
        "broadcast.channel.wecom",
    ]


async def test_the_outbox_refuses_a_second_row_on_one_channel(sessions):
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            user = await users_repo.upsert_user(
                session=session, telegram_id=5301, username=None, now=NOW
            )
            broadcast = await broadcast_row(session)
            for _ in range(2):
                session.add(
                    BroadcastDelivery(
                        broadcast_id=broadcast.id,
                        user_id=user.id,
                        chat_id=5301,
                        channel="telegram",
                    )
                )
            await session.flush()
