"""The command menu per role: what /help lists and what set_my_commands registers."""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import Role, User

GUEST = "guest"
EVERYONE = frozenset({GUEST, Role.LIAISON.value, Role.INFO_OFFICER.value, Role.ADMIN.value})
MEMBERS = frozenset({Role.LIAISON.value, Role.INFO_OFFICER.value, Role.ADMIN.value})
ADMINS = frozenset({Role.ADMIN.value})


@dataclass(frozen=True)
class MenuCommand:
    """A command, the key of its one-line description, and who sees it."""

    command: str
    description: str
    roles: frozenset[str]


# Features add their commands here; the order is the order users see.
MENU: list[MenuCommand] = [
    MenuCommand("start", "cmd.start", EVERYONE),
    MenuCommand("help", "cmd.help", EVERYONE),
    MenuCommand("me", "cmd.me", EVERYONE),
    MenuCommand("lang", "cmd.lang", EVERYONE),
    MenuCommand("cancel", "cmd.cancel", EVERYONE),
    MenuCommand("log", "cmd.log", MEMBERS),
    MenuCommand("mylogs", "cmd.mylogs", MEMBERS),
    MenuCommand("pushed", "cmd.pushed", frozenset({Role.INFO_OFFICER.value, Role.ADMIN.value})),
    MenuCommand("ask", "cmd.ask", EVERYONE),
    MenuCommand("docs", "cmd.docs", EVERYONE),
    MenuCommand("tasks", "cmd.tasks", MEMBERS),
    MenuCommand("newtask", "cmd.newtask", ADMINS),
    MenuCommand("stats", "cmd.stats", MEMBERS),
    MenuCommand("export", "cmd.export", ADMINS),
    MenuCommand("broadcast", "cmd.broadcast", ADMINS),
    MenuCommand("members", "cmd.members", ADMINS),
    MenuCommand("requests", "cmd.requests", ADMINS),
    MenuCommand("remind", "cmd.remind", MEMBERS),
]

# The menu in group chats (every member sees the same one; forms open in private).
GROUP_MENU: list[MenuCommand] = [
    MenuCommand("ask", "group.cmd.ask", EVERYONE),
    MenuCommand("tasks", "group.cmd.tasks", EVERYONE),
    MenuCommand("docs", "group.cmd.docs", EVERYONE),
    MenuCommand("help", "group.cmd.help", EVERYONE),
    MenuCommand("bindgroup", "group.cmd.bindgroup", ADMINS),
]

# Commands that may interrupt a form without ending it.
ALLOWED_DURING_FORM = frozenset({"help", "cancel", "me", "lang", "ask", "docs"})


def role_of(user: User | None) -> str:
    """The menu role of a user: their role once registered, else guest."""
    if user is None or user.role is None or user.org_id is None or not user.active:
        return GUEST
    return str(user.role)


def commands_for(role: str) -> list[MenuCommand]:
    """The commands a role sees."""
    return [c for c in MENU if role in c.roles]


def group_commands(role: str) -> list[MenuCommand]:
    """The group menu of a role (``admin``: a group's own admins, who may bind it)."""
    return [c for c in GROUP_MENU if role in c.roles]
