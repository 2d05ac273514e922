"""The one base class of refusals a person sees: a message key and its parameters."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A refusal for the user (or the CLI): ``key`` names the message, ``params`` fill it in.

    Services raise a subclass named after their domain; the flows show any of them alike.
    """

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
