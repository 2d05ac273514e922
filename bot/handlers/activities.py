"""/log, /mylogs, /pushed, the quick log from free text, and the buttons of activity lists."""

from __future__ import annotations

from telegram.ext import BaseHandler


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return []
