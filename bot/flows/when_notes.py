"""What the date reader (`bot.services.when`) guessed or refused, as the flows show it."""

from __future__ import annotations

from typing import Any

from bot.flows.base import Msg
from bot.services import when


def note_json(note: when.Note) -> dict[str, Any]:
    """A note, kept in a form's JSON state until the summary shows it."""
    return Msg(note.key, note.params).to_json()


def notes_of(kept: list[dict[str, Any]] | None) -> list[Msg]:
    """Notes kept in a form's state, as messages."""
    return [Msg(item["key"], item["params"]) for item in kept or []]


def shown(notes: tuple[when.Note, ...]) -> list[Msg]:
    """Notes of a reading, as messages."""
    return [Msg(note.key, note.params) for note in notes]
