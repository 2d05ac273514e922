"""Both catalogs carry every message id the code uses, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import PROJECT_ROOT
from bot.common.i18n import (
    LOCALES_DIR,
    PLURAL_PARAM,
    SUPPORTED,
    load_catalog,
    load_forms,
    placeholders,
    plural_keys,
    t,
)

# Message ids as the code writes them: Msg("a.b"), t(locale, "a.b"), prompt="a.b" …
KEY_IN_CODE = re.compile(r"""["']((?:[a-z_]+\.)+[a-z_0-9]+)["']""")
CODE_DIRS = ("bot",)
# Dotted strings in code that are not message ids.
NOT_KEYS = re.compile(
    r"^(bot|storage|telegram|stabot|sqlalchemy|sqlmodel|jieba|bm25s|httpx)\.|"
    r"\.(py|json|txt|md|docx|pdf|csv|xlsx|po|db|png|jpg|jsonl|npy|npz|pkl|mmd|mako|sqlite|onnx)$"
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
    from bot.flows.menu import GUEST
    from storage.models import Role

    names = {GUEST, *(r.value for r in Role)}
    expected = {f"{prefix}{name}" for name in names} - (
        {"role.guest"} if prefix == "role." else set()
    )
    for catalog in catalogs.values():
        assert expected <= set(catalog)


# --- plural messages (msgid_plural), rendered through gettext's ngettext -------------------

PLURAL_FORMS = {"zh_CN": (1, "0"), "en": (2, "(n != 1)")}


@pytest.fixture(scope="module")
def forms() -> dict[str, dict[str, tuple[str, ...]]]:
    return {locale: load_forms(locale) for locale in SUPPORTED}


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_file_of_a_language_declares_its_plural_forms(locale):
    for po_file in sorted((LOCALES_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        header = dict(catalog.mime_headers).get("Plural-Forms")
        assert header is not None, po_file.name
        assert (catalog.num_plurals, catalog.plural_expr) == PLURAL_FORMS[locale], po_file.name


def test_plural_messages_are_the_same_in_both_languages(forms):
    assert plural_keys("zh_CN") == plural_keys("en")
    for locale, (count, _) in PLURAL_FORMS.items():
        for key in plural_keys(locale):
            assert len(forms[locale][key]) == count, (locale, key)


def test_every_form_of_a_plural_message_has_the_same_placeholders(forms):
    for key in plural_keys("en"):
        expected = placeholders(forms["zh_CN"][key][0])
        for form in forms["en"][key]:
            assert placeholders(form) == expected, (key, form)


@pytest.mark.parametrize("locale", SUPPORTED)
@pytest.mark.parametrize("count", [0, 1, 2])
def test_each_plural_message_renders_its_form_for_the_count(forms, locale, count):
    for key in sorted(plural_keys(locale)):
        written = forms[locale][key]
        others = {name: f"<{name}>" for name in placeholders(written[0]) - {PLURAL_PARAM}}
        expected = written[1 if locale == "en" and count != 1 else 0]
        rendered = t(locale, key, count=count, **others)
        assert rendered == expected.format(count=count, **others), (key, count)
        assert "{" not in rendered


def test_english_plurals_read_as_english():
    assert t("en", "activity.unit.session", count=1) == "session"
    assert t("en", "activity.unit.session", count=2) == "sessions"
    assert t("en", "count.people", count=1) == "1 person"
    assert t("en", "task.state.left", count=1) == "1 day left"
    assert t("en", "task.state.left", count=0) == "0 days left"
    assert t("zh_CN", "activity.unit.session", count=2) == "场"
    # Without a count (a column label, the unit's name) the singular form is the name.
    assert t("en", "activity.unit.term") == "course"


def test_no_english_message_hedges_its_plural(forms):
    hedged = re.compile(r"\w\((?:s|es)\)")  # "session(s)": a plural message says it properly
    found = {k: v for k, v in forms["en"].items() if any(hedged.search(f) for f in v)}
    assert found == {}


def test_zh_cn_addresses_the_user_one_way(catalogs):
    # 你 throughout, as most messages already had it (73 to 16 when they were mixed): a form
    # that says 你 on one step and 您 on the next reads as two voices.
    formal = sorted(key for key, text in catalogs["zh_CN"].items() if "您" in text)
    assert formal == []


# A closing quote (or tag) between two marks: 「请按时报送。」。, “Due Friday.”.
DOUBLED_MARK = re.compile(
    r"[。．.，,；;：:、](?:</[a-z-]+>|[」』》〉”’\"'])+(?:</[a-z-]+>)*[。．.，,；;：:、]"
)


@pytest.mark.parametrize("locale", SUPPORTED)
def test_a_quoted_value_ending_with_a_mark_never_doubles_it(locale):
    """Every message, each value ending with a full stop (a title typed with one, a notice's
    first sentence): nowhere does a closing quote stand between two marks."""
    doubled = []
    for key, text in load_catalog(locale).items():
        try:
            shown, plain = (_rendered(locale, key, text, value) for value in ("通知。", "通知"))
        except (ValueError, TypeError):  # a number's format ({rate:.1f}): no title there
            continue
        if DOUBLED_MARK.search(shown) and not DOUBLED_MARK.search(plain):  # not the text's own
            doubled.append((key, shown))
    assert doubled == []


def _rendered(locale: str, key: str, text: str, value: str) -> str:
    values: dict[str, object] = {name: value for name in placeholders(text)}
    if PLURAL_PARAM in values:
        values[PLURAL_PARAM] = 2
    return t(locale, key, **values)
