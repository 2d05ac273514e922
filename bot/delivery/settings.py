"""``DELIVERY_*`` settings of the pipeline, the ``delivery`` group of bot/config.py's Settings.
The aliases list each setting's variable, then its older ``BROADCAST_*``/``REMINDERS_*`` names,
which still work (the first name found wins; bot.config.older_names reads them)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


def _names(*names: str) -> AliasChoices:
    return AliasChoices(*names, *(name.lower() for name in names))


class DeliverySettings(BaseModel):
    """How fast, how many at once, and how the pipeline records what it sent."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    # Telegram allows about 30 messages/s per bot, counted as they arrive: a send occupies the
    # ``window`` from its start until a window after its answer, and at most ``limit`` sends
    # (replies and bulk) occupy it (bot/delivery/budget.py). The bulk lane's timeline runs at
    # ``rate``, a little under what the window lets through on a fast link (30 / (1 s + a few
    # ms of round trip)), so that sends go evenly spread and the window binds rarely.
    rate: float = Field(29.5, validation_alias=_names("DELIVERY_RATE", "BROADCAST_RATE"))
    limit: int = Field(30, validation_alias=_names("DELIVERY_LIMIT"))
    window: float = Field(1.0, validation_alias=_names("DELIVERY_WINDOW"))
    # Unset: a send may have arrived any time until its answer. Set: at most this long after
    # it started (more rate on a slow link, no longer certain). Between processes (shared
    # budget), where answers are not seen, slots are kept this far apart beyond the window
    # (default 25 ms: the arrival jitter measured on loopback was at most 15-30 ms).
    margin: float | None = Field(None, validation_alias=_names("DELIVERY_MARGIN"))
    per_chat_interval: float = Field(
        1.0, validation_alias=_names("DELIVERY_PER_CHAT_INTERVAL", "BROADCAST_PER_CHAT_INTERVAL")
    )
    group_interval: float = Field(3.0, validation_alias=_names("DELIVERY_GROUP_INTERVAL"))
    paid_rate: float = Field(1000.0, validation_alias=_names("DELIVERY_PAID_RATE"))
    max_in_flight: int = Field(
        50, validation_alias=_names("DELIVERY_MAX_IN_FLIGHT", "BROADCAST_MAX_IN_FLIGHT")
    )
    paid_max_in_flight: int = Field(100, validation_alias=_names("DELIVERY_PAID_MAX_IN_FLIGHT"))
    # Rows claimed per step and source: small, since a graceful stop hands them back anyway
    # and a crash only doubts the rows marked ``sending``.
    claim_batch: int = Field(
        25,
        validation_alias=_names(
            "DELIVERY_CLAIM_BATCH", "BROADCAST_CLAIM_BATCH", "REMINDERS_CLAIM_BATCH"
        ),
    )
    paid_claim_batch: int = Field(1000, validation_alias=_names("DELIVERY_PAID_CLAIM_BATCH"))
    mark_ahead: float = Field(0.1, validation_alias=_names("DELIVERY_MARK_AHEAD"))
    flush_every: float = Field(0.25, validation_alias=_names("DELIVERY_FLUSH_EVERY"))
    flush_rows: int = Field(500, validation_alias=_names("DELIVERY_FLUSH_ROWS"))
    max_attempts: int = Field(5, validation_alias=_names("DELIVERY_MAX_ATTEMPTS"))
    reserve_ahead: float = Field(0.2, validation_alias=_names("DELIVERY_RESERVE_AHEAD"))
    shared_budget: bool | None = Field(None, validation_alias=_names("DELIVERY_SHARED_BUDGET"))
    progress_every: float = Field(
        3.0, validation_alias=_names("DELIVERY_PROGRESS_EVERY", "BROADCAST_PROGRESS_EVERY")
    )
    reply_retries: int = Field(3, validation_alias=_names("DELIVERY_REPLY_RETRIES"))
    # WeCom's own lane (bot/delivery/budget.py's QuotaPacer; WeCom's numbers, from its
    # 访问频率限制 page: per application to one member at most 30 messages a minute and 1,000
    # an hour, the excess dropped without an error; per application the account cap × 200
    # messages a day; message/send is outside the 10,000 calls/min API frequency). The defaults
    # stay under the per-member numbers, since an excess is lost rather than refused.
    wecom_rate: float = Field(20.0, validation_alias=_names("DELIVERY_WECOM_RATE"))
    wecom_limit: int = Field(20, validation_alias=_names("DELIVERY_WECOM_LIMIT"))
    wecom_member_per_minute: int = Field(
        25, validation_alias=_names("DELIVERY_WECOM_MEMBER_PER_MINUTE")
    )
    # A member's burst on top of the sustained per-minute rate (a token bucket): a reply of a
    # text and a card goes at once; any minute holds at most per_minute + burst (29 < 30).
    wecom_member_burst: int = Field(4, validation_alias=_names("DELIVERY_WECOM_MEMBER_BURST"))
    wecom_member_per_hour: int = Field(
        900, validation_alias=_names("DELIVERY_WECOM_MEMBER_PER_HOUR")
    )
    # The account cap × 200 (a 500-account corp: 100,000); set it to your corp's.
    wecom_app_per_day: int = Field(100_000, validation_alias=_names("DELIVERY_WECOM_APP_PER_DAY"))
    # A 45009 blocks the application for a minute ("按分钟拦截则被屏蔽60秒"): the lane waits it.
    wecom_pause: float = Field(60.0, validation_alias=_names("DELIVERY_WECOM_PAUSE"))
    autostart: bool | None = Field(
        None,
        validation_alias=_names("DELIVERY_AUTOSTART", "BROADCAST_AUTOSTART", "REMINDERS_SENDER"),
    )
