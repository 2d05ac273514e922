"""One Settings object: the README's variables in groups, read from the environment and .env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import Settings
from bot.delivery.settings import DeliverySettings

GROUPED = ("DELIVERY_", "BROADCAST_", "REMINDERS_", "KNOWLEDGE_", "WECOM_", "SUPERADMIN_IDS")
DEFAULT_RATE = DeliverySettings.model_fields["rate"].default


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the developer's shell decides these tests."""
    for name in list(os.environ):
        if name.startswith(GROUPED):
            monkeypatch.delenv(name)


def test_each_group_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERY_PER_CHAT_INTERVAL", "2.5")
    monkeypatch.setenv("DELIVERY_SHARED_BUDGET", "true")
    monkeypatch.setenv("REMINDERS_PAUSED", "1")
    monkeypatch.setenv("KNOWLEDGE_WARMUP", "false")
    monkeypatch.setenv("KNOWLEDGE_EMBEDDINGS", "none")
    settings = Settings(_env_file=None)
    assert settings.delivery.per_chat_interval == 2.5
    assert settings.delivery.shared_budget is True
    assert settings.delivery.rate == DEFAULT_RATE  # untouched fields keep their defaults
    assert (settings.reminders.paused, settings.reminders.scheduler) == (True, None)
    assert (settings.knowledge.warmup, settings.knowledge.embeddings) == (False, "none")


def test_wecom_reads_its_variables_and_keeps_secrets_out_of_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not Settings(_env_file=None).wecom.configured  # unset: nothing of WeCom starts
    variables = {
        "WECOM_CORP_ID": "ww0123456789abcdef",
        "WECOM_AGENT_ID": "1000002",
        "WECOM_SECRET": "app-secret-value",
        "WECOM_TOKEN": "callback-token",
        "WECOM_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "WECOM_API_BASE_URL": "http://127.0.0.1:9/cgi-bin",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    wecom = Settings(_env_file=None).wecom
    assert (wecom.corp_id, wecom.agent_id, wecom.api_base_url) == (
        "ww0123456789abcdef",
        1000002,
        "http://127.0.0.1:9/cgi-bin",
    )
    assert wecom.secret is not None and wecom.secret.get_secret_value() == "app-secret-value"
    assert wecom.can_send and wecom.can_receive and wecom.configured
    shown = repr(wecom)
    assert "app-secret-value" not in shown and "callback-token" not in shown


def test_wecom_without_its_callback_keys_can_send_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECOM_CORP_ID", "ww1")
    monkeypatch.setenv("WECOM_AGENT_ID", "7")
    monkeypatch.setenv("WECOM_SECRET", "s")
    monkeypatch.setenv("WECOM_TOKEN", " ")  # blank counts as unset
    wecom = Settings(_env_file=None).wecom
    assert (wecom.can_send, wecom.can_receive, wecom.configured) == (True, False, False)
    assert wecom.api_base_url == "https://qyapi.weixin.qq.com/cgi-bin"


@pytest.mark.parametrize(
    ("variables", "rate", "autostart", "claim_batch"),
    [
        ({"BROADCAST_RATE": "5", "REMINDERS_SENDER": "0"}, 5.0, False, 25),
        ({"BROADCAST_RATE": "5", "DELIVERY_RATE": "7"}, 7.0, None, 25),  # the new name wins
        ({"REMINDERS_CLAIM_BATCH": "9", "BROADCAST_CLAIM_BATCH": "8"}, DEFAULT_RATE, None, 8),
    ],
)
def test_older_names_still_work(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    rate: float,
    autostart: bool | None,
    claim_batch: int,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    delivery = Settings(_env_file=None).delivery
    assert (delivery.rate, delivery.autostart, delivery.claim_batch) == (
        rate,
        autostart,
        claim_batch,
    )


def test_the_env_file_feeds_every_group_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "TIMEZONE=UTC\nDELIVERY_RATE=3\nBROADCAST_AUTOSTART=true\nREMINDERS_SCHEDULER=false\n"
        "KNOWLEDGE_EMBEDDINGS=none\nSUPERADMIN_IDS=5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("BROADCAST_RATE", "4")  # an older name in the environment beats .env
    settings = Settings(_env_file=env_file)
    assert settings.timezone == "UTC"
    assert (settings.delivery.rate, settings.delivery.autostart) == (4.0, True)
    assert settings.reminders.scheduler is False
    assert settings.knowledge.embeddings == "none"
    assert settings.superadmin_ids == [5]


@pytest.mark.parametrize(("raw", "ids"), [("1,2", [1, 2]), ("7", [7]), ("3; 4", [3, 4])])
def test_superadmin_ids_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, ids: list[int]
) -> None:
    monkeypatch.setenv("SUPERADMIN_IDS", raw)
    assert Settings(_env_file=None).superadmin_ids == ids


def test_init_values_replace_one_field_of_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWLEDGE_WARMUP", "false")
    settings = Settings(_env_file=None, knowledge={"embeddings": "none"})
    assert (settings.knowledge.warmup, settings.knowledge.embeddings) == (False, "none")
