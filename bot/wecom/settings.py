"""``WECOM_*``: one WeCom self-built application (企业微信自建应用)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin"


class WeComSettings(BaseModel):
    """The application's identity and secrets; unset, nothing of WeCom starts."""

    corp_id: str | None = None  # 企业ID; also the receive id inside every callback
    agent_id: int | None = None  # the application's AgentId
    secret: SecretStr | None = None  # the application's Secret (gettoken's corpsecret)
    token: SecretStr | None = None  # the callback's Token (signatures)
    aes_key: SecretStr | None = None  # the callback's EncodingAESKey (43 characters)
    api_base_url: str = DEFAULT_WECOM_API_BASE  # a loopback fake in tests

    @property
    def can_send(self) -> bool:
        """Whether the API may be called: corp id, agent id and secret set."""
        return bool(self.corp_id and self.agent_id is not None and _set(self.secret))

    @property
    def can_receive(self) -> bool:
        """Whether callbacks can be verified: corp id, token and AES key set."""
        return bool(self.corp_id and _set(self.token) and _set(self.aes_key))

    @property
    def configured(self) -> bool:
        """Both ways: what starting the WeCom channel will need."""
        return self.can_send and self.can_receive


def _set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())
