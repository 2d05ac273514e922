"""Build Update JSON exactly as Telegram sends it, for the tests and the terminal chat.

``UpdateFactory`` numbers updates and messages like Telegram (update ids increase by one;
message ids per chat, shared with the bot's own messages when an ``OfflineBotAPI`` is given)
and tells that API about every chat, message, file and callback query it invents, so the bot's
replies to them are accepted.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update

from offline.bot_api import OfflineBotAPI, strip_bookkeeping
from offline.formatting import utf16_len

JSON = dict[str, Any]
COMMAND_PREFIX = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{5,32})?")
FIRST_QUERY_ID = 4_611_686_018_427_387_904  # Telegram's callback ids are big decimal strings
GROUP_ID_BASE = -4_000_000_000
SUPERGROUP_ID_BASE = -1_001_000_000_000


@dataclass(frozen=True)
class TgUser:
    """A Telegram user as the bot sees them."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "zh-hans"

    def to_dict(self) -> JSON:
        """The ``User`` object (absent fields omitted, as Telegram does)."""
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def private_chat(self) -> JSON:
        """The private ``Chat`` between this user and the bot."""
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            value = getattr(self, key)
            if value is not None:
                chat[key] = value
        return chat


class UpdateFactory:
    """Incrementing, realistic Update dicts; registers what it invents with ``api``."""

    def __init__(
        self,
        api: OfflineBotAPI | None = None,
        *,
        clock: Callable[[], float] | None = None,
        first_update_id: int = 1,
    ) -> None:
        self.api = api
        # Without an API, files still need ids; a private store hands them out.
        self._files = api or OfflineBotAPI()
        self.clock = clock or (api.clock if api else time.time)
        self._update_id = first_update_id - 1
        self._message_ids: dict[int, int] = {}
        self._query_seq = 0
        self._group_seq = 0

    @property
    def last_update_id(self) -> int:
        """The id of the newest update made (``first_update_id - 1`` before any)."""
        return self._update_id

    def skip_to(self, update_id: int) -> None:
        """Make ``update_id`` the next update's id (Telegram's ids may jump, for instance after
        updates another process received)."""
        self._update_id = update_id - 1

    # --- chats -------------------------------------------------------------------------------

    def group(self, title: str = "科协工作群", *, supergroup: bool = False) -> JSON:
        """A new group (or supergroup) chat with a negative id, registered with the API."""
        self._group_seq += 1
        base = SUPERGROUP_ID_BASE if supergroup else GROUP_ID_BASE
        chat: JSON = {
            "id": base - self._group_seq,
            "type": "supergroup" if supergroup else "group",
            "title": title,
        }
        if self.api:
            self.api.register_chat(chat)
        return chat

    # --- messages ----------------------------------------------------------------------------

    def message(
        self,
        user: TgUser,
        text: str,
        chat: JSON | None = None,
        *,
        entities: Sequence[JSON] | None = None,
        reply_to: JSON | None = None,
    ) -> JSON:
        """A text message; a leading ``/command`` gets its bot_command entity like Telegram's."""
        content: JSON = {"text": text}
        found = list(entities or []) or _command_entity(text)
        if found:
            content["entities"] = found
        if reply_to is not None:
            content["reply_to_message"] = strip_bookkeeping(reply_to)
        return self._message_update(user, chat, content)

    def command(
        self,
        user: TgUser,
        command: str,
        args: str | Sequence[str] | None = None,
        chat: JSON | None = None,
        *,
        mention: bool = False,
    ) -> JSON:
        """``/start abc``; ``mention`` appends ``@botname`` as group clients do."""
        name = command if command.startswith("/") else f"/{command}"
        if mention:
            name += f"@{self._bot_username()}"
        if isinstance(args, str):
            args = [args] if args else []
        text = " ".join([name, *(args or [])])
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(name)}
        return self.message(user, text, chat, entities=[entity])

    def edited_message(self, user: TgUser, original: JSON, text: str) -> JSON:
        """The user edits one of their messages (``original``: its update or message dict)."""
        message = copy.deepcopy(original.get("message", original))
        message["text"] = text
        message.pop("entities", None)
        found = _command_entity(text)
        if found:
            message["entities"] = found
        message["edit_date"] = int(self.clock())
        return self._wrap("edited_message", message)

    def photo(
        self, user: TgUser, data: bytes, caption: str | None = None, chat: JSON | None = None
    ) -> JSON:
        """A photo (the PhotoSize ladder of ``data``), optionally captioned."""
        content: JSON = {"photo": self._files.register_file(data, kind="photo")}
        if caption:
            content["caption"] = caption
        return self._message_update(user, chat, content)

    def document(
        self,
        user: TgUser,
        data: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
        *,
        caption: str | None = None,
        chat: JSON | None = None,
    ) -> JSON:
        """A file sent as a document."""
        document = self._files.register_file(
            data, kind="document", file_name=file_name, mime_type=mime_type
        )
        content: JSON = {"document": document}
        if caption:
            content["caption"] = caption
        return self._message_update(user, chat, content)

    def sticker(self, user: TgUser, emoji: str = "👍", chat: JSON | None = None) -> JSON:
        """A regular static sticker."""
        sticker = self._files.register_file(b"RIFF\x00\x00\x00\x00WEBP", kind="sticker")
        sticker |= {"is_animated": False, "is_video": False, "emoji": emoji}
        return self._message_update(user, chat, {"sticker": sticker})

    # --- callback queries and membership -----------------------------------------------------

    def callback(self, user: TgUser, data: str, message: JSON) -> JSON:
        """The user presses the inline button carrying ``data`` under the bot's ``message``."""
        if message.get("deleted"):
            raise ValueError("a deleted message has no buttons to press")
        offered = _callback_datas(message)
        if data not in offered:
            raise ValueError(f"no button with callback_data {data!r}; the message has {offered}")
        self._query_seq += 1
        query = {
            "id": str(FIRST_QUERY_ID + self._query_seq),
            "from": user.to_dict(),
            "message": strip_bookkeeping(message),
            "chat_instance": str(abs(message["chat"]["id"]) * 7919 % 10**19),
            "data": data,
        }
        return self._wrap("callback_query", query)

    def forged_callback(self, user: TgUser, data: str, message: JSON | None = None) -> JSON:
        """A press with ``data`` no button may carry, under ``message`` or an inline message.

        ``message`` may be an InaccessibleMessage (``chat``, ``message_id``, ``date`` 0).
        """
        self._query_seq += 1
        query: JSON = {
            "id": str(FIRST_QUERY_ID + self._query_seq),
            "from": user.to_dict(),
            "chat_instance": str(user.id * 7919 % 10**19),
            "data": data,
        }
        if message is None:
            query["inline_message_id"] = f"AgAAA{self._query_seq:010d}"
        else:
            query["message"] = strip_bookkeeping(message)
        return self._wrap("callback_query", query)

    def my_chat_member(self, user: TgUser, *, blocked: bool = True) -> JSON:
        """The user blocks (or unblocks) the bot; the API starts (or stops) answering 403."""
        bot_user = self._files.bot_user if self.api is None else self.api.bot_user
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        member = {
            "chat": user.private_chat(),
            "from": user.to_dict(),
            "date": int(self.clock()),
            "old_chat_member": {"status": old, "user": dict(bot_user)},
            "new_chat_member": {"status": new, "user": dict(bot_user)},
        }
        if new == "kicked":
            member["new_chat_member"]["until_date"] = 0
        update = self._wrap("my_chat_member", member)
        if self.api:
            (self.api.block if blocked else self.api.unblock)(user.id)
        return update

    def bot_added(self, user: TgUser, chat: JSON, *, admin: bool = False) -> JSON:
        """``user`` adds the bot to a group (as an admin: it then sees every message)."""
        status = "administrator" if admin else "member"
        update = self._group_membership(user, chat, "left", status)
        if self.api:
            self.api.unblock(chat["id"])
            (self.api.admin_in.add if admin else self.api.admin_in.discard)(chat["id"])
        return update

    def bot_removed(self, user: TgUser, chat: JSON) -> JSON:
        """``user`` removes the bot from a group; sends there get 403 from now on."""
        update = self._group_membership(user, chat, "member", "kicked")
        if self.api:
            self.api.block(chat["id"])
            self.api.admin_in.discard(chat["id"])
        return update

    def _group_membership(self, user: TgUser, chat: JSON, old: str, new: str) -> JSON:
        bot_user = self._files.bot_user if self.api is None else self.api.bot_user
        member = {
            "chat": copy.deepcopy(chat),
            "from": user.to_dict(),
            "date": int(self.clock()),
            "old_chat_member": {"status": old, "user": dict(bot_user)},
            "new_chat_member": {"status": new, "user": dict(bot_user)},
        }
        if new == "administrator":
            member["new_chat_member"] |= _ADMIN_RIGHTS
        if new == "kicked":
            member["new_chat_member"]["until_date"] = 0
        return self._wrap("my_chat_member", member)

    def upgrade_to_supergroup(self, user: TgUser, group: JSON) -> tuple[JSON, JSON]:
        """The group becomes a supergroup: the old chat's service message, and the new chat."""
        supergroup = self.group(group.get("title", ""), supergroup=True)
        update = self._message_update(user, group, {"migrate_to_chat_id": supergroup["id"]})
        return update, supergroup

    # --- plumbing ----------------------------------------------------------------------------

    def _message_update(self, user: TgUser, chat: JSON | None, content: JSON) -> JSON:
        chat = copy.deepcopy(chat) if chat else user.private_chat()
        message: JSON = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user.to_dict(),
            "chat": chat,
            "date": int(self.clock()),
        }
        return self._wrap("message", message | content)

    def _next_message_id(self, chat_id: int) -> int:
        if self.api:
            return self.api.next_message_id(chat_id)
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _wrap(self, kind: str, payload: JSON) -> JSON:
        self._update_id += 1
        update = {"update_id": self._update_id, kind: payload}
        if self.api:
            self.api.observe_update(update)
        return update

    def _bot_username(self) -> str:
        return (self.api or self._files).bot_user["username"]


_ADMIN_RIGHTS: JSON = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


def _command_entity(text: str) -> list[JSON]:
    """Telegram marks a leading ``/command`` (with an optional ``@bot``) as bot_command."""
    match = COMMAND_PREFIX.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def _callback_datas(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row if "callback_data" in button]


def to_update(data: JSON, bot: Bot) -> Update:
    """The PTB ``Update`` for a dict built here (``Update.de_json``)."""
    update = Update.de_json(data, bot)
    if update is None:
        raise ValueError("empty update")
    return update
