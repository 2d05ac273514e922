"""The organisation tree: adding orgs, importing a CSV, and the demo tree."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import org_search
from bot.services.errors import UserError
from storage import orgs_repo
from storage.models import Org, OrgLevel

# Words people write in a CSV for each level, Chinese and English.
LEVEL_WORDS: dict[str, OrgLevel] = {
    "省级": OrgLevel.PROVINCE,
    "省": OrgLevel.PROVINCE,
    "自治区": OrgLevel.PROVINCE,
    "市级": OrgLevel.CITY,
    "市": OrgLevel.CITY,
    "盟市": OrgLevel.CITY,
    "县级": OrgLevel.COUNTY,
    "县": OrgLevel.COUNTY,
    "旗县": OrgLevel.COUNTY,
    "区": OrgLevel.COUNTY,
    "旗县区": OrgLevel.COUNTY,
    "园区": OrgLevel.PARK,
    "企业": OrgLevel.ENTERPRISE,
    "高校": OrgLevel.UNIVERSITY,
    "学会": OrgLevel.SOCIETY,
}
MAX_NAME = 200


class OrgError(UserError, ValueError):
    """A refusal with a message key for the user and the CLI."""


def parse_level(word: str) -> OrgLevel:
    """A level from its Chinese or English name."""
    word = word.strip()
    if word in LEVEL_WORDS:
        return LEVEL_WORDS[word]
    try:
        return OrgLevel(word.lower())
    except ValueError:
        raise OrgError("org.bad_level", level=word) from None


async def add_org(
    session: AsyncSession, *, name: str, level: OrgLevel, parent_id: int | None, now: datetime
) -> Org:
    """Add one org under an existing parent (or as a root)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise OrgError("org.bad_name", limit=MAX_NAME)
    parent = None
    if parent_id is not None:
        parent = await orgs_repo.get_org(session=session, org_id=parent_id)
        if parent is None:
            raise OrgError("org.unknown", org_id=parent_id)
    return await orgs_repo.create_org(
        session=session, name=name, level=level, parent=parent, now=now
    )


@dataclass(frozen=True)
class ImportResult:
    """How many orgs a CSV import created, and which rows it skipped as known."""

    created: int
    existing: int


async def import_csv(session: AsyncSession, text: str, *, now: datetime) -> ImportResult:
    """Import ``name,level,parent`` rows; parents are named and must come first or exist."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
    if rows and rows[0][0].strip().lower() in ("name", "名称"):
        rows = rows[1:]
    created = existing = 0
    for number, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise OrgError("org.bad_row", row=number)
        name, level = row[0].strip(), parse_level(row[1])
        parent = await _named_parent(session, row[2].strip() if len(row) > 2 else "", number)
        parent_id = parent.id if parent else None
        if await orgs_repo.find_org_by_name(session=session, name=name, parent_id=parent_id):
            existing += 1
            continue
        await add_org(session, name=name, level=level, parent_id=parent_id, now=now)
        created += 1
    return ImportResult(created, existing)


async def _named_parent(session: AsyncSession, name: str, row: int) -> Org | None:
    if not name:
        return None
    parent = await orgs_repo.find_org_by_name(session=session, name=name)
    if parent is None:
        raise OrgError("org.unknown_parent", row=row, name=name)
    return parent


PATH_SEPARATOR = " › "


async def org_path(session: AsyncSession, org: Org | None) -> str:
    """``root › … › org``, as people read an org's place in the tree ("" for no org)."""
    if org is None:
        return ""
    return PATH_SEPARATOR.join(o.name for o in await orgs_repo.ancestors(session=session, org=org))


# A small realistic tree: one region, two cities, counties, a park, enterprises, a university.
DEMO_TREE: Sequence[tuple[str, OrgLevel, str | None]] = (
    ("内蒙古自治区科协", OrgLevel.PROVINCE, None),
    ("呼和浩特市科协", OrgLevel.CITY, "内蒙古自治区科协"),
    ("包头市科协", OrgLevel.CITY, "内蒙古自治区科协"),
    ("赛罕区科协", OrgLevel.COUNTY, "呼和浩特市科协"),
    ("土默特左旗科协", OrgLevel.COUNTY, "呼和浩特市科协"),
    ("青山区科协", OrgLevel.COUNTY, "包头市科协"),
    ("和林格尔新区科协", OrgLevel.PARK, "呼和浩特市科协"),
    ("伊利集团科协", OrgLevel.ENTERPRISE, "和林格尔新区科协"),
    ("蒙牛乳业科协", OrgLevel.ENTERPRISE, "和林格尔新区科协"),
    ("包钢集团科协", OrgLevel.ENTERPRISE, "青山区科协"),
    ("内蒙古大学科协", OrgLevel.UNIVERSITY, "呼和浩特市科协"),
    ("内蒙古农学会", OrgLevel.SOCIETY, "内蒙古自治区科协"),
)


async def create_demo_tree(session: AsyncSession, *, now: datetime) -> list[Org]:
    """Create the demo tree (idempotent: known names are reused)."""
    by_name: dict[str, Org] = {}
    for name, level, parent_name in DEMO_TREE:
        parent = by_name.get(parent_name) if parent_name else None
        parent_id = parent.id if parent else None
        org = await orgs_repo.find_org_by_name(session=session, name=name, parent_id=parent_id)
        if org is None:
            org = await add_org(session, name=name, level=level, parent_id=parent_id, now=now)
        by_name[name] = org
    return list(by_name.values())


# --- reading the tree (what flows ask; they reach storage through here) ----------------------


async def get_org(session: AsyncSession, org_id: int | None) -> Org | None:
    """An org by id; None for no id or an unknown one."""
    return await orgs_repo.get_org(session=session, org_id=org_id) if org_id else None


async def search_orgs(
    session: AsyncSession, text: str, *, within: Org | None = None, limit: int
) -> Sequence[Org]:
    """The orgs ``text`` names in ``within``'s subtree: part of a name, a short name (呼市,
    土左旗), or a place whose city has them (bot/services/org_search.py)."""
    return (await find_orgs(session, text, within=within, limit=limit)).orgs


async def find_orgs(
    session: AsyncSession, text: str, *, within: Org | None = None, limit: int
) -> org_search.Found:
    """`search_orgs`, saying also when the orgs are the city's of a place typed (玉泉区)."""
    return await org_search.find(session, text, within=within, limit=limit)


async def example_name(session: AsyncSession, within: Org | None = None) -> str:
    """A name from the tree to show as what to type ("赛罕区"); "" for an empty tree."""
    return await org_search.example_name(session, within)


async def list_orgs(
    session: AsyncSession, *, within: Org | None = None, limit: int | None = None
) -> Sequence[Org]:
    """The orgs of a subtree (or all), in tree order."""
    return await orgs_repo.list_orgs(session=session, within=within, limit=limit)


async def children(session: AsyncSession, org_id: int) -> Sequence[Org]:
    """An org's direct children."""
    return await orgs_repo.children(session=session, org_id=org_id)
