"""The WeCom dispatcher's handled events and numbered choices (storage/wecom_models.py)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.wecom_models import WeComChoices, WeComHandled


async def mark_handled(session: AsyncSession, *, dedup_key: str, now: datetime) -> bool:
    """Record an event as handled in this transaction; False when it was handled before."""
    if await session.get(WeComHandled, dedup_key) is not None:
        return False
    session.add(WeComHandled(dedup_key=dedup_key, handled_at=now))
    await session.flush()  # a concurrent twin fails here, on the primary key
    return True


async def forget_handled_before(session: AsyncSession, *, moment: datetime) -> None:
    """Drop the records of events older than WeCom retries."""
    await session.exec(delete(WeComHandled).where(WeComHandled.handled_at < moment))  # type: ignore[call-overload]


async def offer_choices(
    session: AsyncSession,
    *,
    address: int,
    choices: list[str],
    now: datetime,
    quoted: str | None = None,
) -> None:
    """Keep the numbered choices of the latest reply to ``address``, and the member's words
    it quoted (neither: forget the earlier ones)."""
    row = await session.get(WeComChoices, address)
    if not choices and quoted is None:
        if row is not None:
            await session.delete(row)
        return
    data = json.dumps(choices, ensure_ascii=False)
    if row is None:
        session.add(WeComChoices(address=address, data=data, quoted=quoted, offered_at=now))
    else:
        row.data, row.quoted, row.offered_at = data, quoted, now


async def choice(session: AsyncSession, *, address: int, number: int) -> str | None:
    """The callback data of choice ``number`` (from 1) of the latest reply, or None."""
    row = await session.get(WeComChoices, address)
    if row is None:
        return None
    choices = json.loads(row.data)
    return choices[number - 1] if 1 <= number <= len(choices) else None


async def quoted(session: AsyncSession, *, address: int) -> str | None:
    """The member's words the latest reply to ``address`` quoted, or None."""
    row = await session.get(WeComChoices, address)
    return row.quoted if row is not None else None
