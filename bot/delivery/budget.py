"""Telegram's sending limits for one bot: about 30 messages/s, 1/s per private chat, 20/min
per group; a 429's ``retry_after`` stops the sends it was about.

The rules, for every send of the bot (replies and bulk alike):
- **The window.** Telegram counts a send when it arrives, which is some time after the send
  started here and before its answer came back. So a send *occupies* the window from its start
  until ``window`` (1.0 s) after its answer (or its failure), and at most ``limit`` (30) sends
  occupy it at any moment: then the 31st send, starting at least a second after the answer of
  the send 30 before it, arrives at least a second after that one arrived, whatever the delays
  were. No margin is guessed; each send's own round trip is its margin (a few ms on loopback,
  more on a far link: the rate falls to 30 / (1 s + round trip) rather than meet a 429).
  ``DELIVERY_MARGIN`` may cap that uncertainty (a send is then taken to have arrived at most
  ``margin`` after it started), which trades the certainty for rate on a slow link.
- **The timeline.** The bulk lane's sends are placed on an absolute timeline ``1/rate`` apart,
  so they go evenly spread (at the start, after a pause) rather than in bursts. A lane that
  woke late does not move the timeline: its next slot is already due, so the lateness of one
  wake-up (``asyncio.sleep`` oversleeps by a few ms on a loaded machine) is not lost; the
  window is what keeps catching up from bunching. Where the window binds, a late wake-up costs
  its few ms once per ``limit`` sends instead of once per send.
- **Replies first.** A reply waits for the window too (in a full window a place frees every
  1/30 s), and while one waits, the bulk lane leaves the next place to it: the bulk lane fills
  what replies leave.
- **Per chat.** A private chat gets its next message ``per_chat`` seconds after the answer to
  its last one, a group ``group`` seconds after (20 a minute). The bulk lane puts a row back
  when its chat is not free; a reply in a private chat waits for its chat's slot (at most a
  second: that beats meeting a 429); replies in a group go at once (Telegram allows bursts
  there), held only by the group's own 429.
- **429s** (`ChatPacer.scoped`): Telegram's ``retry_after`` is the time left before *that
  request* may be repeated, under whichever limit it hit; the answer does not name the limit.
  A 429 for a chat this process sent to within that chat's window (2 s private, 60 s group)
  whose ``retry_after`` fits that window (at most 5 s private, 60 s group) is taken as the
  chat's own limit: only that chat waits. Any other is the bot's: every send waits it out (in
  every process, through the shared budget). A wrong guess costs little: the next bulk send to
  a fresh chat meets the bot's limit too and pauses everything.

`SendBudget` keeps all this in one process (SQLite's one process, or tests). `SharedBudget`
keeps the timeline in PostgreSQL (table ``send_budget``, a row per lane), so that the sends of
every process are spaced on one timeline, where no process sees the others' answers: slots go
``(window + margin) / limit`` apart, a process reserves its next slots in one ``UPDATE …
RETURNING`` (``reserve_ahead`` seconds of sends; no round trip per bulk message), a reply takes
the next slot its process holds or reserves one of its own before it goes (so replies of other
processes are counted before they go, not after), and a slot is used at most ``margin / 2``
late, or dropped: the other half of the margin is room for the arrival jitter. A 429 of the
bot moves the lane's row past the pause, so every process's next reservation starts after it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import SessionFactory, transaction
from storage.delivery_models import SendBudget as BudgetRow

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], float]
FREE_LANE, PAID_LANE = "free", "paid"
EARLY = 0.0005  # a send this close to its moment goes (clocks count whole microseconds)
# The timeline keeps at most this much of a late lane's debt. A window's worth: the window
# caps how fast it is made up (never more than 30 arrive in any second), and on a loaded
# machine the event loop stalls for 0.3-0.8 s now and then (measured at load 8: sends that
# reached the fake that long after they started), which a shorter debt would lose for good.
CATCH_UP = 1.0
POLL = 0.002  # a full window of sends still in flight: look again this soon
# Which 429s are a chat's own: sent to within this window before, and retry_after within it.
CHAT_SCOPE = {"private": (2.0, 5.0), "group": (60.0, 60.0)}


@dataclass(slots=True, eq=False)
class Place:
    """One send's place in the budget: when it started, when its answer (or failure) came
    (None: in flight), and the chat's message before it (None: none lately)."""

    chat_id: int | None
    started: float
    answered: float | None = None
    prior: Place | None = None

    @property
    def previous(self) -> float | None:
        """When the chat's message before this one started."""
        return self.prior.started if self.prior is not None else None


class ChatPacer:
    """The per-chat part of the limits, shared by every lane and the replies of a process."""

    def __init__(self, per_chat: float, group: float, margin: float | None = None) -> None:
        self.per_chat, self.group, self.margin = per_chat, group, margin
        self._last: dict[int, Place] = {}  # the chat's latest message
        self._held: dict[int, float] = {}  # a chat's own 429: nothing to it until then

    def interval(self, chat_id: int) -> float:
        """Seconds between two messages to this chat (groups have negative ids)."""
        return self.group if chat_id < 0 else self.per_chat

    def wait(self, chat_id: int, now: float) -> float:
        """Seconds until this chat may get another message (one still in flight: at least
        the interval from now)."""
        last = self._last.get(chat_id)
        free = 0.0
        if last is not None:
            free = min(_occupied_until(last, self.margin), now) + self.interval(chat_id)
            free = max(free, last.started + self.interval(chat_id))
        return max(free, self._held.get(chat_id, 0.0)) - now

    def reply_wait(self, chat_id: int, now: float) -> float:
        """Seconds a reply to this chat waits: a private chat's slot; in a group, where
        Telegram allows bursts of replies (20 a minute), only the group's own 429."""
        return self.wait(chat_id, now) if chat_id > 0 else self.held_for(chat_id, now)

    def held_for(self, chat_id: int, now: float) -> float:
        """Seconds left of this chat's own 429 (0 or less: none)."""
        return self._held.get(chat_id, 0.0) - now

    def last(self, chat_id: int) -> float | None:
        """When this chat's latest message from this process started (None: not lately)."""
        last = self._last.get(chat_id)
        return last.started if last else None

    def take(self, place: Place) -> None:
        """A message to ``place.chat_id`` starts now; it keeps the chat's message before it."""
        chat_id = place.chat_id
        assert chat_id is not None
        place.prior = self._last.get(chat_id)
        if place.prior is not None:
            place.prior.prior = None  # one message back is all a give-back needs
        self._last[chat_id] = place
        if len(self._last) > 10_000:  # forget chats whose interval has long passed
            horizon = place.started - 120
            self._last = {c: p for c, p in self._last.items() if p.started > horizon}
            self._held = {c: at for c, at in self._held.items() if at > place.started}

    def give_back(self, place: Place) -> None:
        """That message never reached Telegram: the one before it is the chat's last again."""
        if place.chat_id is None or self._last.get(place.chat_id) is not place:
            return
        if place.prior is None:
            del self._last[place.chat_id]
        else:
            self._last[place.chat_id] = place.prior

    def hold(self, chat_id: int, until: float) -> None:
        """Telegram refused this chat until ``until``: nothing goes to it before."""
        self._held[chat_id] = max(self._held.get(chat_id, 0.0), until)

    @staticmethod
    def scoped(chat_id: int, retry_after: float, previous: float | None, at: float) -> bool:
        """Whether a 429 at ``at`` for this chat is the chat's own limit (see the module doc):
        the message before it went to the chat within the chat's window, and retry_after
        fits that window."""
        if previous is None:
            return False
        within, longest = CHAT_SCOPE["group" if chat_id < 0 else "private"]
        return at - previous < within and retry_after <= longest


class Quota:
    """At most ``limit`` events in any ``seconds`` (a sliding window, in this process)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self._at: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits (0 or less: now)."""
        while self._at and self._at[0] <= now - self.seconds:
            self._at.popleft()
        if len(self._at) < self.limit:
            return 0.0
        return self._at[len(self._at) - self.limit] + self.seconds - now

    def add(self, at: float) -> None:
        self._at.append(at)

    def used(self, now: float) -> int:
        """Events within the window up to ``now``."""
        return sum(1 for at in self._at if at > now - self.seconds)

    def latest(self) -> float:
        """When the latest event counted happened (0: none)."""
        return self._at[-1] if self._at else 0.0

    def remove(self, at: float) -> None:
        """An event that did not happen after all (its send never reached the channel)."""
        if self._at and self._at[-1] == at:
            self._at.pop()
        elif at in self._at:
            self._at.remove(at)


class QuotaPacer(ChatPacer):
    """The per-chat part for a channel that counts per recipient and per day (WeCom: at most
    30 messages a minute and 1,000 an hour from one application to one member, the excess
    *dropped without an error*; at most the account cap × 200 a day from the application).

    A recipient's messages pass a token bucket (GCRA: a theoretical arrival time per
    recipient): ``burst`` at once, then ``per_minute`` evenly spread (60 / per_minute apart).
    Any 60 s then hold at most ``burst + per_minute`` of them (25 + 4 = 29 by default, under
    WeCom's 30): a reply of a text and a card goes at once, a member pressing fast through a
    form is slowed to the sustained rate, never dropped. The hour is a sliding count per
    recipient, the day one for the whole lane. No 429 announces either limit (the excess is
    lost), so they are kept here before a send, never learnt after.
    """

    def __init__(
        self,
        *,
        per_minute: int,
        per_hour: int,
        per_day: int,
        burst: int = 1,
        margin: float | None = None,
    ) -> None:
        interval = 60.0 / per_minute
        super().__init__(interval, interval, margin)
        self.per_hour = per_hour
        self.tolerance = (max(1, burst) - 1) * interval  # how far ahead a bucket may run
        self.day = Quota(per_day, 86_400.0)
        self._hours: dict[int, Quota] = {}
        self._due: dict[int, float] = {}  # each recipient's theoretical arrival time

    def wait(self, chat_id: int, now: float) -> float:
        """Seconds until this recipient may get another message, and the lane one more today."""
        hour = self._hours.get(chat_id)
        bucket = self._due.get(chat_id, now) - self.tolerance - now
        waits = [bucket, self.held_for(chat_id, now), self.day.wait(now)]
        return max(*waits, hour.wait(now) if hour is not None else 0.0)

    def reply_wait(self, chat_id: int, now: float) -> float:
        """Replies keep the same limits: WeCom counts them alike."""
        return self.wait(chat_id, now)

    def take(self, place: Place) -> None:
        """Count the message in its recipient's bucket and hour and the lane's day."""
        super().take(place)
        chat_id = place.chat_id
        assert chat_id is not None
        self._due[chat_id] = max(self._due.get(chat_id, 0.0), place.started) + self.per_chat
        hour = self._hours.setdefault(chat_id, Quota(self.per_hour, 3600.0))
        hour.add(place.started)
        self.day.add(place.started)
        if len(self._hours) > 10_000:  # forget recipients whose hour has passed
            horizon = place.started - 3600.0
            self._hours = {c: q for c, q in self._hours.items() if q.latest() > horizon}
            self._due = {c: due for c, due in self._due.items() if due > place.started}

    def give_back(self, place: Place) -> None:
        """The message never reached the channel: it counts nowhere."""
        super().give_back(place)
        chat_id = place.chat_id
        if chat_id is not None and chat_id in self._hours:
            self._hours[chat_id].remove(place.started)
        if chat_id is not None and chat_id in self._due:
            self._due[chat_id] -= self.per_chat
        self.day.remove(place.started)


class SendBudget:
    """One lane's window, timeline and 429 pause, in this process."""

    def __init__(
        self,
        *,
        rate: float,
        limit: int,
        window: float,
        now: Now,
        chats: ChatPacer,
        margin: float | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.limit, self.window, self.margin = limit, window, margin
        self.now, self.chats, self.sleep = now, chats, sleep
        self.retry_after_hits = 0  # 429s of the bot (a chat's own are not counted)
        self._slot = 0.0  # the bulk lane's next moment on the timeline
        self._paused_until = 0.0
        self._places: deque[Place] = deque()  # the sends occupying the window
        self._replies_waiting = 0

    # --- the bulk lane -----------------------------------------------------------------------

    async def ready(self) -> float:
        """Seconds until the bulk lane may send (0 or less: now)."""
        now = self.now()
        return max(self._slot - now, self._held_back(now, self._replies_waiting))

    def take(self, chat_id: int) -> Place:
        """Account for one bulk send starting now."""
        now = self.now()
        # A lane behind its timeline by less than CATCH_UP makes it up; one further behind (it
        # was idle, or stalled for long) starts the timeline again from now, without a burst.
        self._slot = (self._slot if now - self._slot <= CATCH_UP else now) + self.interval
        return self._start(chat_id, now)

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until this chat may get another message."""
        return self.chats.wait(chat_id, self.now())

    # --- replies -----------------------------------------------------------------------------

    async def reply(self, chat_id: int | None) -> Place:
        """Wait until a reply to this chat may go (a pause, the chat's slot in a private chat or
        after its own 429, a place in the window, ahead of the bulk lane), then take it."""
        self._replies_waiting += 1
        try:
            while (wait := self._reply_wait(chat_id)) > EARLY:
                await self.sleep(wait)
        finally:
            self._replies_waiting -= 1
        return self._start(chat_id, self.now())

    def _reply_wait(self, chat_id: int | None) -> float:
        now = self.now()
        wait = self._held_back(now, 0)
        if chat_id is not None:
            wait = max(wait, self.chats.reply_wait(chat_id, now))
        return wait

    # --- after a send ------------------------------------------------------------------------

    def answered(self, place: Place) -> None:
        """The send's answer (or its failure) came now: it arrived, if at all, before now."""
        place.answered = self.now()

    def settle(self, place: Place | None, *, taken: bool) -> None:
        """A reply's answer came: it took its place (it arrived, if at all, before now), or the
        channel did not take it (a refusal, a connection never made) and it gives it back."""
        if place is None:
            return
        if taken:
            self.answered(place)
        else:
            self.give_back(place)

    def give_back(self, place: Place) -> None:
        """The send never reached Telegram (its connection was never made, or a 429): its place
        in the window and its chat's slot are free again."""
        if place in self._places:
            self._places.remove(place)
        self.chats.give_back(place)

    # --- 429s --------------------------------------------------------------------------------

    def chat_scoped(self, chat_id: int | None, retry_after: float, previous: float | None) -> bool:
        """Whether a 429 for a send to this chat (whose message before went at ``previous``) is
        the chat's own limit rather than the bot's."""
        if chat_id is None:
            return False
        return self.chats.scoped(chat_id, retry_after, previous, self.now())

    async def refused(
        self, chat_id: int | None, retry_after: float, previous: float | None
    ) -> None:
        """Telegram answered 429: hold the chat, or pause the whole lane (see the module doc)."""
        if chat_id is not None and self.chat_scoped(chat_id, retry_after, previous):
            self.chats.hold(chat_id, self.now() + retry_after)
            return
        await self.pause(retry_after)

    def paused_for(self) -> float:
        """Seconds left of a 429 pause (0 when none)."""
        return max(0.0, self._paused_until - self.now())

    async def pause(self, seconds: float) -> None:
        """Telegram said "retry after" for the bot: nothing is sent on the lane until then."""
        self.retry_after_hits += 1
        self._paused_until = max(self._paused_until, self.now() + seconds)

    async def wait_out(self, chat_id: int | None) -> None:
        """Sleep through the bot's pause and this chat's own 429 (a request that is no send)."""
        held = self.chats.held_for(chat_id, self.now()) if chat_id is not None else 0.0
        if (wait := max(self.paused_for(), held)) > 0:
            await self.sleep(wait)

    async def close(self) -> None:
        """Nothing is owed: every send took its place before it went."""

    # --- the window --------------------------------------------------------------------------

    def window_wait(self, now: float, reserve: int = 0) -> float:
        """Seconds until one more send fits in the window, leaving ``reserve`` places free."""
        places = self._places
        while places and self._free_at(places[0]) <= now:
            places.popleft()
        # Sends start in order but may be answered out of order: look at each.
        frees = sorted(self._free_at(p) for p in places)
        busy = sum(1 for at in frees if at > now)
        allowed = max(1, self.limit - reserve)
        if busy < allowed:
            return 0.0
        # The busy ones are the last ``busy``; ``busy - allowed + 1`` of them must leave first
        # (one still in flight leaves only once answered).
        leaving = frees[len(frees) - allowed]
        # EARLY on top: a send that goes up to EARLY ahead of its moment stays behind the window.
        return POLL if leaving == float("inf") else leaving - now + EARLY

    def _free_at(self, place: Place) -> float:
        return _occupied_until(place, self.margin) + self.window

    def _held_back(self, now: float, reserve: int) -> float:
        return max(self._paused_until - now, self.window_wait(now, reserve))

    def _start(self, chat_id: int | None, now: float) -> Place:
        place = Place(chat_id, now)
        self._places.append(place)
        if chat_id is not None:
            self.chats.take(place)
        return place


def _occupied_until(place: Place, margin: float | None) -> float:
    """The latest moment the send may have reached Telegram: its answer (in flight: not yet
    known), or its start plus ``margin`` when one is trusted."""
    latest = place.answered if place.answered is not None else float("inf")
    return min(latest, place.started + margin) if margin is not None else latest


class SharedBudget(SendBudget):
    """The lane's timeline in the database, shared by every process of the bot."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        lane: str,
        reserve_ahead: float,
        jitter: float = 0.025,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.sessions, self.lane = sessions, lane
        # No process sees the others' answers: the timeline itself keeps ``limit`` slots a
        # window and a margin apart, each used at most half the margin late.
        self.interval = max(self.interval, (self.window + jitter) / self.limit)
        self.late = jitter / 2
        self.batch = max(1, round(reserve_ahead / self.interval))
        self._slots: deque[float] = deque()

    async def ready(self) -> float:
        """Seconds until the next reserved slot (reserving more when none is left)."""
        now = self.now()
        self._drop_stale(now)
        if not self._slots:
            start = await self._reserve(self.batch, now)
            self._slots.extend(start + i * self.interval for i in range(self.batch))
        return max(self._slots[0] - now, self._held_back(now, self._replies_waiting))

    def take(self, chat_id: int) -> Place:
        """Use the next reserved slot."""
        if self._slots:
            self._slots.popleft()
        return self._start(chat_id, self.now())

    async def reply(self, chat_id: int | None) -> Place:
        """As in one process, and on the shared timeline: the next slot this process holds (the
        bulk lane takes the one after), or one reserved for this reply alone."""
        self._replies_waiting += 1
        try:
            while (wait := self._reply_wait(chat_id)) > EARLY:
                await self.sleep(wait)
            now = self.now()
            self._drop_stale(now)
            slot = self._slots.popleft() if self._slots else await self._reserve(1, now)
            while (wait := max(slot - self.now(), self._reply_wait(chat_id))) > EARLY:
                await self.sleep(wait)
        finally:
            self._replies_waiting -= 1
        return self._start(chat_id, self.now())

    async def pause(self, seconds: float) -> None:
        """Pause here and in the database: every process's next reservation waits too."""
        await super().pause(seconds)
        until = self._paused_until
        self._slots.clear()
        greatest = self._greatest()
        async with transaction(self.sessions) as session:
            await self._ensure_row(session)
            await session.exec(  # type: ignore[call-overload]
                update(BudgetRow)
                .where(BudgetRow.lane == self.lane)
                .values(
                    paused_until=greatest(BudgetRow.paused_until, until),
                    next_at=greatest(BudgetRow.next_at, until),
                )
            )

    def _drop_stale(self, now: float) -> None:
        # A slot used later than this could crowd the slots other processes use on time.
        floor = max(now - self.late, self._paused_until)
        while self._slots and self._slots[0] < floor:
            self._slots.popleft()

    async def _reserve(self, count: int, now: float) -> float:
        """Reserve ``count`` slots on the shared timeline; returns the first one's time."""
        greatest = self._greatest()
        statement = (
            update(BudgetRow)
            .where(BudgetRow.lane == self.lane)
            .values(
                next_at=greatest(BudgetRow.next_at, now, BudgetRow.paused_until)
                + count * self.interval
            )
            .returning(BudgetRow.next_at, BudgetRow.paused_until)
        )
        async with transaction(self.sessions) as session:
            row = (await session.exec(statement)).first()  # type: ignore[call-overload]
            if row is None:
                await self._ensure_row(session)
                row = (await session.exec(statement)).first()  # type: ignore[call-overload]
        next_at, paused_until = float(row[0]), float(row[1])
        # Another process's 429 shows here: this process pauses too.
        self._paused_until = max(self._paused_until, paused_until)
        return next_at - count * self.interval

    async def _ensure_row(self, session) -> None:  # type: ignore[no-untyped-def]
        dialect = session.bind.dialect.name if session.bind is not None else ""
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(BudgetRow.__table__)  # type: ignore[attr-defined]
            .values(lane=self.lane, next_at=0.0, paused_until=0.0)
            .on_conflict_do_nothing(index_elements=["lane"])
        )
        await session.exec(statement)

    def _greatest(self):  # type: ignore[no-untyped-def]
        # GREATEST on PostgreSQL; SQLite's scalar max() takes several arguments alike.
        bind = self.sessions.kw.get("bind")
        return (
            func.greatest if bind is not None and bind.dialect.name == "postgresql" else func.max
        )
