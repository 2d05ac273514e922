"""gettext catalogs from ``locales/<lang>/LC_MESSAGES/*.po``; rendering always names its locale.

Every ``.po`` file of a language is merged into one catalog, so each domain of the bot (core,
knowledge, activities …) keeps its own file. Message ids are stable keys such as
``start.welcome``; placeholders use ``str.format`` names (``{name}``).

A message that depends on a number is a gettext plural message: ``msgid_plural`` (the same key)
and one ``msgstr[i]`` per form of the language's ``Plural-Forms`` header (English two, Chinese
one). Its form is chosen by its ``count`` parameter, through the standard library's
``ngettext``: ``t("en", "activity.unit.session", count=1)`` is "session", with 2 "sessions".
"""

from __future__ import annotations

import gettext
import io
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DEFAULT_LOCALE = "zh_CN"
SUPPORTED = ("zh_CN", "en")
PLACEHOLDER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)[^{}]*}")
PLURAL_PARAM = "count"  # the parameter that picks a plural message's form
# A placeholder in quotes (or bold) with punctuation after them: 「{notice}」。, 《{title}》：,
# “{title}”. A value that ends with its own mark (a notice's first sentence, a title typed
# with a full stop) would double it: 「请按时报送。」。 The value's last mark goes instead.
_QUOTED_THEN_MARK = re.compile(
    r"{([a-zA-Z_][a-zA-Z0-9_]*)}(?=(?:</[a-z-]+>|[」』》〉”’\"'])+[。．.，,；;：:！!？?、])"
)
# One closing mark at a value's end (before any closing tags); an ellipsis ("...") stays.
_LAST_MARK = re.compile(r"(?<!\.)[。．.，,；;：:、](?=(?:</[a-z-]+>)*$)")


def read_catalog(locale: str, root: Path = LOCALES_DIR) -> Catalog:
    """One language's .po files merged into one Babel catalog (the first file's header)."""
    merged: Catalog | None = None
    for po_file in sorted((root / locale / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=locale.replace("-", "_"))
        if merged is None:
            merged = catalog
            continue
        for message in catalog:
            if message.id:
                merged[message.id] = message
    return merged if merged is not None else Catalog(locale=locale)


def load_catalog(locale: str, root: Path = LOCALES_DIR) -> dict[str, str]:
    """All translated messages of one language (a plural message: its first form)."""
    return {key: forms[0] for key, forms in load_forms(locale, root).items()}


def load_forms(locale: str, root: Path = LOCALES_DIR) -> dict[str, tuple[str, ...]]:
    """Every translated message with all its forms (one, or one per plural form)."""
    forms: dict[str, tuple[str, ...]] = {}
    for message in read_catalog(locale, root):
        if not message.id or not message.string:
            continue
        if message.pluralizable:
            forms[str(message.id[0])] = tuple(str(form) for form in message.string)
        else:
            forms[str(message.id)] = (str(message.string),)
    return forms


def plural_keys(locale: str, root: Path = LOCALES_DIR) -> frozenset[str]:
    """The ids of the plural messages of one language."""
    return frozenset(str(m.id[0]) for m in read_catalog(locale, root) if m.pluralizable)


def compile_translations(catalog: Catalog) -> gettext.GNUTranslations:
    """The catalog as the standard library's translations (an in-memory .mo file)."""
    binary = io.BytesIO()
    # Untranslated and fuzzy-marked entries count as they are written: the .po files are
    # maintained by hand, and their headers carry the fuzzy mark Babel's template left.
    write_mo(binary, catalog, use_fuzzy=True)
    binary.seek(0)
    return gettext.GNUTranslations(binary)


@lru_cache(maxsize=4)
def _translations(locale: str) -> gettext.GNUTranslations:
    translations = compile_translations(read_catalog(locale))
    if locale != DEFAULT_LOCALE:
        # A message missing in this language comes from the default one, then is the key.
        translations.add_fallback(_translations(DEFAULT_LOCALE))
    return translations


@lru_cache(maxsize=1)
def _plural_keys() -> frozenset[str]:
    return frozenset().union(*(plural_keys(locale) for locale in SUPPORTED))


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
    """Render message ``key`` in ``locale``, falling back to the default language, then the key.

    A plural message takes the form its integer ``count`` parameter asks for.
    """
    translations = _translations(locale if locale in SUPPORTED else DEFAULT_LOCALE)
    count = params.get(PLURAL_PARAM)
    if key in _plural_keys() and isinstance(count, int) and not isinstance(count, bool):
        text = translations.ngettext(key, key, count)
    else:
        text = translations.gettext(key)
    if not params:
        return text
    for name in _quoted_before_mark(text):  # 「…。」。 → 「…」。
        value = params.get(name)
        if isinstance(value, str):
            params[name] = _LAST_MARK.sub("", value, count=1)
    return text.format(**params)


@lru_cache(maxsize=1024)
def _quoted_before_mark(text: str) -> frozenset[str]:
    """The placeholders of a message that are quoted and followed by punctuation."""
    return frozenset(_QUOTED_THEN_MARK.findall(text))


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message."""
    return set(PLACEHOLDER.findall(text))
