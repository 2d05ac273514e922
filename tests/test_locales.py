"""Both catalogs carry every message id the code uses, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.i18n import SUPPORTED, load_catalog, placeholders

# Message ids as the code writes them: Msg("a.b"), t(locale, "a.b"), prompt="a.b" …
KEY_IN_CODE = re.compile(r"""["']((?:[a-z_]+\.)+[a-z_0-9]+)["']""")
CODE_DIRS = ("bot",)
# Dotted strings in code that are not message ids.
NOT_KEYS = re.compile(
    r"^(bot|storage|telegram|stabot|sqlalchemy|sqlmodel|jieba|bm25s|httpx)\.|"
    r"\.(py|json|txt|md|docx|pdf|csv|xlsx|po|db|png|jsonl|npy|npz|pkl|mmd|mako|sqlite|onnx)$"
)
DYNAMIC_PREFIXES = ("role.", "help.header.")


@pytest.fixture(scope="module")
def catalogs() -> dict[str, dict[str, str]]:
    return {locale: load_catalog(locale) for locale in SUPPORTED}


def _keys_in_code() -> set[str]:
    keys: set[str] = set()
    for folder in CODE_DIRS:
        for path in Path(PROJECT_ROOT / folder).rglob("*.py"):
            for key in KEY_IN_CODE.findall(path.read_text(encoding="utf-8")):
                if not NOT_KEYS.search(key) and not key.startswith("stabot."):
                    keys.add(key)
    return keys


def test_catalogs_have_the_same_ids(catalogs):
    zh, en = catalogs["zh_CN"], catalogs["en"]
    assert sorted(set(zh) ^ set(en)) == []


def test_placeholders_match(catalogs):
    zh, en = catalogs["zh_CN"], catalogs["en"]
    mismatched = {
        k: (placeholders(zh[k]), placeholders(en[k]))
        for k in zh
        if k in en and placeholders(zh[k]) != placeholders(en[k])
    }
    assert mismatched == {}


def test_every_id_used_in_code_is_translated(catalogs):
    known = set(catalogs["zh_CN"]) & set(catalogs["en"])
    missing = sorted(k for k in _keys_in_code() if k not in known)
    # A dotted literal in code that is not a message id would show here: name it in NOT_KEYS.
    assert missing == []


@pytest.mark.parametrize("prefix", DYNAMIC_PREFIXES)
def test_dynamic_families_are_complete(catalogs, prefix):
    from bot.menu import GUEST
    from storage.models import Role

    names = {GUEST, *(r.value for r in Role)}
    expected = {f"{prefix}{name}" for name in names} - (
        {"role.guest"} if prefix == "role." else set()
    )
    for catalog in catalogs.values():
        assert expected <= set(catalog)
