"""gettext catalogs from ``locales/<lang>/LC_MESSAGES/*.po``; rendering always names its locale.

Every ``.po`` file of a language is merged into one catalog, so each domain of the bot (core,
knowledge, activities …) keeps its own file. Message ids are stable keys such as
``start.welcome``; placeholders use ``str.format`` names (``{name}``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

from bot import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DEFAULT_LOCALE = "zh_CN"
SUPPORTED = ("zh_CN", "en")
PLACEHOLDER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)[^{}]*}")


def load_catalog(locale: str, root: Path = LOCALES_DIR) -> dict[str, str]:
    """All translated messages of one language, merged from its .po files."""
    messages: dict[str, str] = {}
    for po_file in sorted((root / locale / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=locale.replace("-", "_"))
        for message in catalog:
            if message.id and message.string:
                messages[str(message.id)] = str(message.string)
    return messages


@lru_cache(maxsize=4)
def _catalog(locale: str) -> dict[str, str]:
    return load_catalog(locale)


def normalize_locale(code: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Map Telegram's ``language_code`` (``zh-hans``, ``en-US`` …) to a supported locale."""
    if not code:
        return default
    code = code.lower().replace("-", "_")
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default


def t(locale: str | None, key: str, /, **params: object) -> str:
    """Render message ``key`` in ``locale``, falling back to the default language, then the key."""
    locale = locale if locale in SUPPORTED else DEFAULT_LOCALE
    text = _catalog(locale).get(key) or _catalog(DEFAULT_LOCALE).get(key) or key
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message."""
    return set(PLACEHOLDER.findall(text))
