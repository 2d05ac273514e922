"""Finding an org by what people type, and a name from the tree for prompts' examples.

People type part of a name (赛罕), the name with or without 科协 (呼和浩特市科学技术协会), a short
name (呼市, 土左旗, 内大), or a place that has no org of its own in the tree (玉泉区, whose city
has one). Each is tried in that order; the first that finds anything in the searcher's
subtree answers. Short names are read two ways: a city's names people use (bot/services/data/
places.txt), and the usual way of shortening (the first character, then some of the others
in order). A place of the list leads to its city's orgs, saying so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import orgs_repo
from storage.models import Org, OrgLevel

PLACES_FILE = Path(__file__).parent / "data" / "places.txt"
# What people add to a name or leave out of it: 呼和浩特市科协 is found by 呼和浩特市 too.
SUFFIXES = ("科学技术协会", "科协")
SCAN_MAX = 5000  # orgs read to match a short name (a province's tree is far smaller)
_LINE = re.compile(
    r"^(?P<city>[^（(:：]+)(?:[（(](?P<aliases>[^）)]*)[）)])?\s*[:：]\s*(?P<places>.*)$"
)


@dataclass(frozen=True)
class Found:
    """Orgs found for a query; ``place`` and ``city`` when the query named a place without
    an org of its own and these are its city's."""

    orgs: list[Org]
    place: str = ""
    city: str = ""


@dataclass(frozen=True)
class City:
    """A city (or league) of the places list: the names people use for it, its places."""

    name: str
    aliases: tuple[str, ...]
    places: tuple[str, ...]


@lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
    """The places list, read once."""
    found = []
    for raw in PLACES_FILE.read_text(encoding="utf-8").splitlines():
        match = _LINE.match(raw.strip())
        if raw.startswith("#") or match is None:
            continue
        aliases = tuple(a for a in re.split(r"[，,、\s]+", match["aliases"] or "") if a)
        found.append(City(match["city"].strip(), aliases, tuple(match["places"].split())))
    return tuple(found)


def core(text: str) -> str:
    """What a name or a query says without spaces and without 科协 at its end."""
    plain = "".join(unicodedata.normalize("NFKC", text).split())
    for suffix in SUFFIXES:
        if plain.endswith(suffix) and len(plain) > len(suffix):
            return plain[: -len(suffix)]
    return plain


def abbreviates(short: str, name: str) -> bool:
    """Whether ``short`` shortens ``name`` as people shorten names: its first character
    begins the name and the others follow in order (呼市 → 呼和浩特市, 土左旗 → 土默特左旗,
    内大 → 内蒙古大学)."""
    if len(short) < 2 or not name.startswith(short[0]):
        return False
    rest = iter(name[1:])
    return all(char in rest for char in short[1:])


async def find(
    session: AsyncSession, text: str, *, within: Org | None, limit: int
) -> Found:
    """The orgs of ``within``'s subtree (None: all) that ``text`` names, the likeliest first."""
    query = core(text)
    if not query:
        return Found([])
    for wording in (query, _city_called(query)):
        if wording:
            found = await orgs_repo.search_orgs(
                session=session, text=wording, within=within, limit=limit
            )
            if found:
                return Found(list(found))
    shortened = await _shortened(session, query, within)
    if shortened:
        return Found(shortened[:limit])
    return await _city_of_place(session, query, within, limit)


def _city_called(query: str) -> str | None:
    """The city a short name stands for (呼市 → 呼和浩特市)."""
    return next((city.name for city in cities() if query in city.aliases), None)


async def _shortened(session: AsyncSession, query: str, within: Org | None) -> list[Org]:
    candidates = await orgs_repo.list_orgs(session=session, within=within, limit=SCAN_MAX)
    found = [org for org in candidates if abbreviates(query, core(org.name))]
    return sorted(found, key=lambda org: (len(org.name), org.id or 0))


async def _city_of_place(
    session: AsyncSession, query: str, within: Org | None, limit: int
) -> Found:
    """A place without an org in the tree (玉泉区): its city's orgs, if the subtree has any."""
    for city in cities():
        place = next((p for p in city.places if _names_place(query, p)), None)
        if place is None:
            continue
        found = await orgs_repo.search_orgs(
            session=session, text=city.name, within=within, limit=limit
        )
        return Found(list(found), place=place, city=city.name) if found else Found([])
    return Found([])


def _names_place(query: str, place: str) -> bool:
    # 玉泉区, 玉泉 (the place without 区/旗/县), or a short name of it (土左旗).
    return query == place or (len(query) >= 2 and place.startswith(query)) or abbreviates(
        query, place
    )


async def example_name(session: AsyncSession, within: Org | None) -> str:
    """A name to show as an example of what to type, from the tree the reader searches: a
    county's (the usual search), else the first org below ``within``, else its own; without
    科协 ("赛罕区"). "" when the tree is empty."""
    found: Sequence[Org] = await orgs_repo.list_orgs(session=session, within=within, limit=200)
    below = [org for org in found if within is None or org.id != within.id]
    county = next((org for org in below if org.level == OrgLevel.COUNTY), None)
    pick = county or (below[0] if below else None) or (found[0] if found else None)
    return core(pick.name) if pick is not None else ""
