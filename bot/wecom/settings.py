"""``WECOM_*``: one WeCom self-built application (企业微信自建应用)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr, field_validator

DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin"
DEFAULT_LISTEN = "127.0.0.1:8081"


class WeComSettings(BaseModel):
    """The application's identity and secrets; unset, nothing of WeCom starts."""

    corp_id: str | None = None  # 企业ID; also the receive id inside every callback
    agent_id: int | None = None  # the application's AgentId
    secret: SecretStr | None = None  # the application's Secret (gettoken's corpsecret)
    token: SecretStr | None = None  # the callback's Token (signatures)
    aes_key: SecretStr | None = None  # the callback's EncodingAESKey (43 characters)
    api_base_url: str = DEFAULT_WECOM_API_BASE  # a loopback fake in tests
    # Where the callback server listens (host:port; behind a public HTTPS reverse proxy),
    # and the path of the callback URL saved in WeCom's admin console.
    listen: str = DEFAULT_LISTEN
    callback_path: str = "/wecom/callback"

    @field_validator("listen")
    @classmethod
    def _has_port(cls, value: str) -> str:
        if not value.rpartition(":")[2].isdigit():
            raise ValueError("WECOM_LISTEN is host:port, e.g. 0.0.0.0:8081")
        return value

    @property
    def can_send(self) -> bool:
        """Whether the API may be called: corp id, agent id and secret set."""
        return bool(self.corp_id and self.agent_id is not None and _set(self.secret))

    @property
    def can_receive(self) -> bool:
        """Whether callbacks can be verified: corp id, token and AES key set."""
        return bool(self.corp_id and _set(self.token) and _set(self.aes_key))

    @property
    def listen_address(self) -> tuple[str, int]:
        """``listen`` as (host, port); a bare port listens on every address."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)

    @property
    def partly_set(self) -> bool:
        """Some of the application's identity or secrets set, but not all that starting needs."""
        values = (self.corp_id, self.agent_id, self.secret, self.token, self.aes_key)
        return any(value is not None for value in values) and not self.configured

    @property
    def configured(self) -> bool:
        """Both ways: what starting the WeCom channel will need."""
        return self.can_send and self.can_receive


def _set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())
