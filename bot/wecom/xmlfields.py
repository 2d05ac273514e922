"""WeCom's flat callback XML (``<xml><Field>value</Field>…</xml>``), read safely and written.

The callback body comes from the internet, so it is parsed with defusedxml: no entity
expansion, no external entities, no DTDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring


class WeComXmlError(ValueError):
    """The body is no well-formed, safe ``<xml>`` document."""


def parse_fields(body: str | bytes) -> dict[str, str]:
    """The ``<xml>`` root's child elements as name → text (nested ones as their inner XML)."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as error:
        raise WeComXmlError(f"unreadable callback XML: {error}") from error
    if root.tag != "xml":
        raise WeComXmlError(f"callback XML root is <{root.tag}>, not <xml>")
    return {child.tag: _text(child) for child in root}


def _text(element: Element) -> str:
    if len(element):  # a nested group (a card event's SelectedItems): keep it as XML
        return "".join(tostring(child, encoding="unicode") for child in element)
    return element.text or ""


# A field's value: a number, a string, or a group of fields (a scan event's ScanCodeInfo).
Value = str | int | Mapping[str, "Value"]


def build_xml(fields: Mapping[str, Value]) -> str:
    """``<xml>`` with one element per field: numbers bare, strings in CDATA, groups as nested
    elements, as WeCom writes."""
    return "<xml>" + _elements(fields) + "</xml>"


def _elements(fields: Mapping[str, Value]) -> str:
    return "".join(f"<{name}>{_value(value)}</{name}>" for name, value in fields.items())


def _value(value: Value) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return _elements(value)
    # "]]>" would end the section early: close it and open another between "]]" and ">".
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
