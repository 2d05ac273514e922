"""The WeCom server API of a self-built application: ``gettoken``, ``message/send``,
``message/update_template_card``, ``media/upload`` and ``media/get``.

The access token is cached until shortly before WeCom says it expires (the clock is
injectable) and fetched once more when WeCom calls it invalid or expired (40014, 42001): a
token can die early, when another process fetched a new one with the same secret. Answers
come back as typed results carrying WeCom's errcode and errmsg; only a failure to get any
answer (the network, a non-JSON body) raises. The secret and the token are never part of a
message or an exception's text.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from json import loads
from typing import Any, ClassVar
from urllib.parse import unquote

import aiohttp

from bot.common.clock import Clock, SystemClock
from bot.wecom.settings import DEFAULT_WECOM_API_BASE, WeComSettings

# Refresh this long before WeCom's expiry (at most half the token's life, for short-lived ones).
EXPIRY_MARGIN = timedelta(minutes=5)
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
# WeCom keeps an uploaded temporary file three days; an upload is reused for a little less.
MEDIA_REUSE = timedelta(days=2)
UPLOADS_KEPT = 64  # the media ids of this many recent uploads remembered


class WeComErrcode(int, Enum):
    """The errcodes the adapter acts on (the rest are reported as they come)."""

    OK = 0
    INVALID_SECRET = 40001
    INVALID_CORP_ID = 40013
    INVALID_TOKEN = 40014
    INVALID_MEDIA_ID = 40007
    EXPIRED_TOKEN = 42001
    EMPTY_CONTENT = 44004
    CONTENT_TOO_LONG = 45002
    API_RATE_LIMITED = 45009  # the application's or the user's message quota
    INVALID_FILE_TYPE = 40005
    INVALID_FILE_SIZE = 40006
    INVALID_IMAGE_SIZE = 40009
    INVALID_PARAMETER = 40058  # e.g. a used or unknown response_code
    ALL_RECIPIENTS_INVALID = 81013


TOKEN_REJECTED = frozenset({WeComErrcode.INVALID_TOKEN, WeComErrcode.EXPIRED_TOKEN})


JSON_TYPES = frozenset({"application/json", "text/plain"})


class WeComTransportError(Exception):
    """No WeCom answer at all: the connection, a timeout, or a body that is not JSON.

    ``never_sent``: the connection was never made (refused, or its connect timed out), so the
    request provably did not reach WeCom; otherwise it may have.
    """

    def __init__(self, message: str, *, never_sent: bool = False) -> None:
        super().__init__(message)
        self.never_sent = never_sent


class WeComTokenError(Exception):
    """``gettoken`` refused: a wrong corp id or secret (WeCom's errcode kept)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"gettoken refused: errcode {errcode} ({errmsg})")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class WeComResult:
    """WeCom's answer to one call: its errcode and errmsg, and the rest of the JSON."""

    errcode: int
    errmsg: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errcode == 0

    @property
    def rate_limited(self) -> bool:
        return self.errcode == WeComErrcode.API_RATE_LIMITED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WeComResult:
        return cls(int(data.get("errcode", 0)), str(data.get("errmsg", "")), data)


@dataclass(frozen=True)
class SendResult(WeComResult):
    """``message/send``'s answer: the message id, and who it could not reach."""

    msgid: str | None = None
    invalid_users: tuple[str, ...] = ()
    response_code: str | None = None  # a card's: what update_template_card will need

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendResult:
        invalid = str(data.get("invaliduser") or "")
        return cls(
            errcode=int(data.get("errcode", 0)),
            errmsg=str(data.get("errmsg", "")),
            data=data,
            msgid=data.get("msgid") or None,
            invalid_users=tuple(user for user in invalid.split("|") if user),
            response_code=data.get("response_code") or None,
        )


@dataclass(frozen=True)
class UpdateResult(WeComResult):
    """``update_template_card``'s answer: the members whose card could not be changed."""

    invalid_users: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpdateResult:
        invalid = data.get("invaliduser") or ()
        users = invalid.split("|") if isinstance(invalid, str) else invalid
        return cls(
            errcode=int(data.get("errcode", 0)),
            errmsg=str(data.get("errmsg", "")),
            data=data,
            invalid_users=tuple(str(user) for user in users if user),
        )


@dataclass(frozen=True)
class UploadResult(WeComResult):
    """``media/upload``'s answer: the temporary media id (valid three days)."""

    media_id: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UploadResult:
        return cls(
            errcode=int(data.get("errcode", 0)),
            errmsg=str(data.get("errmsg", "")),
            data=data,
            media_id=data.get("media_id") or None,
        )


@dataclass(frozen=True)
class MediaResult(WeComResult):
    """``media/get``'s answer: the file's bytes and name, or WeCom's errcode (no content)."""

    content: bytes = b""
    file_name: str | None = None
    content_type: str | None = None


class MediaType(StrEnum):
    """What ``media/upload`` takes (WeCom checks each one's format and size)."""

    IMAGE = "image"  # jpg or png, at most 10 MB
    VOICE = "voice"  # amr, at most 2 MB
    VIDEO = "video"  # mp4, at most 10 MB
    FILE = "file"  # anything, at most 20 MB


@dataclass(frozen=True)
class CardUpdate:
    """What ``update_template_card`` changes on the members' card after a press: the pressed
    button's text (``replace_name``), or the whole card (a template card's JSON)."""

    replace_name: str | None = None
    card: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.replace_name is None) == (self.card is None):
            raise ValueError("a card update is either replace_name or a whole card")

    def fields(self) -> dict[str, Any]:
        if self.card is not None:
            return {"template_card": dict(self.card)}
        return {"button": {"replace_name": self.replace_name}}


@dataclass(frozen=True)
class Text:
    msgtype: ClassVar[str] = "text"
    content: str

    def body(self) -> dict[str, Any]:
        return {"content": self.content}


@dataclass(frozen=True)
class Markdown(Text):
    """WeCom's markdown subset (shown in the WeCom app only, not in WeChat)."""

    msgtype: ClassVar[str] = "markdown"


@dataclass(frozen=True)
class TextCard:
    msgtype: ClassVar[str] = "textcard"
    title: str
    description: str
    url: str
    btntxt: str = ""

    def body(self) -> dict[str, Any]:
        card = {"title": self.title, "description": self.description, "url": self.url}
        return card | ({"btntxt": self.btntxt} if self.btntxt else {})


@dataclass(frozen=True)
class TemplateCard:
    """A template card as WeCom's JSON (card_type text_notice, button_interaction, …)."""

    msgtype: ClassVar[str] = "template_card"
    card: Mapping[str, Any]

    def body(self) -> dict[str, Any]:
        return dict(self.card)


@dataclass(frozen=True)
class Image:
    """An uploaded image (jpg or png) by its media id."""

    msgtype: ClassVar[str] = "image"
    media_id: str

    def body(self) -> dict[str, Any]:
        return {"media_id": self.media_id}


@dataclass(frozen=True)
class File(Image):
    """An uploaded file by its media id."""

    msgtype: ClassVar[str] = "file"


@dataclass(frozen=True)
class Upload:
    """A photo or file to upload (``media/upload``) and then send as an image or file message:
    `WeComClient.send` does both, so a renderer can return it like any message."""

    kind: MediaType  # IMAGE or FILE
    data: bytes = field(repr=False)
    filename: str

    @property
    def msgtype(self) -> str:
        return str(self.kind)


Message = Text | Markdown | TextCard | TemplateCard | Image | File | Upload


@dataclass(frozen=True)
class Recipients:
    """Who a message goes to: user ids, department ids, tag ids (WeCom joins them with |)."""

    users: Sequence[str] = ()
    parties: Sequence[str] = ()
    tags: Sequence[str] = ()

    def fields(self) -> dict[str, str]:
        named = {"touser": self.users, "toparty": self.parties, "totag": self.tags}
        return {key: "|".join(values) for key, values in named.items() if values}


@dataclass
class _Token:
    value: str
    refresh_at: datetime


class WeComClient:
    """One application's API calls over aiohttp; ``close()`` it when done."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int,
        *,
        base_url: str = DEFAULT_WECOM_API_BASE,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.base_url = base_url.rstrip("/")
        self._clock = clock or SystemClock()
        self._session = session
        self._owns_session = session is None
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._uploads: dict[tuple[MediaType, str, str], tuple[str, datetime]] = {}

    @classmethod
    def from_settings(cls, settings: WeComSettings, clock: Clock | None = None) -> WeComClient:
        """The client of the configured application (``settings.can_send`` must hold)."""
        if not settings.can_send or settings.secret is None or settings.agent_id is None:
            raise ValueError("WECOM_CORP_ID, WECOM_AGENT_ID and WECOM_SECRET are needed")
        return cls(
            settings.corp_id or "",
            settings.secret.get_secret_value(),
            settings.agent_id,
            base_url=settings.api_base_url,
            clock=clock,
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def access_token(self) -> str:
        """The cached token, fetched when there is none or it is about to expire."""
        if self._token is not None and self._fresh(self._token):
            return self._token.value
        async with self._token_lock:  # one gettoken however many calls wait for it
            if not self._fresh(self._token):  # else a call ahead of this one fetched it
                self._token = await self._fetch_token()
            assert self._token is not None
            return self._token.value

    async def send(self, message: Message, to: Recipients, *, safe: bool = False) -> SendResult:
        """``message/send`` of one message to ``to``; WeCom's answer as a SendResult (an
        `Upload` is uploaded first: a refused upload is its SendResult)."""
        if isinstance(message, Upload):
            media_id = await self._uploaded(message)
            if isinstance(media_id, UploadResult):
                return SendResult.from_json(media_id.data)
            sent = File if message.kind is MediaType.FILE else Image
            message = sent(media_id)
        payload = {
            **to.fields(),
            "msgtype": message.msgtype,
            "agentid": self.agent_id,
            message.msgtype: message.body(),
            "safe": int(safe),
        }
        return SendResult.from_json(await self.call("message/send", payload))

    async def update_template_card(
        self, response_code: str, update: CardUpdate, users: Sequence[str]
    ) -> UpdateResult:
        """Change a template card the members pressed (the press's ResponseCode, usable once
        and for 72 hours) for ``users``: the button's text, or the whole card."""
        payload = {
            "userids": list(users),
            "agentid": self.agent_id,
            "response_code": response_code,
            **update.fields(),
        }
        return UpdateResult.from_json(await self.call("message/update_template_card", payload))

    async def _uploaded(self, upload: Upload) -> str | UploadResult:
        """The media id of an upload, uploaded once while WeCom keeps it (a notice's file sent
        to a thousand members is one upload); the refusal when WeCom refuses it."""
        key = (upload.kind, hashlib.sha256(upload.data).hexdigest(), upload.filename)
        now = self._clock.now()
        kept = self._uploads.get(key)
        if kept is not None and now - kept[1] < MEDIA_REUSE:
            return kept[0]
        uploaded = await self.upload_media(upload.kind, upload.data, upload.filename)
        if not uploaded.ok or uploaded.media_id is None:
            return uploaded
        if len(self._uploads) >= UPLOADS_KEPT:
            self._uploads.pop(next(iter(self._uploads)))
        self._uploads[key] = (uploaded.media_id, now)
        return uploaded.media_id

    async def upload_media(
        self, kind: MediaType, content: bytes, file_name: str, content_type: str | None = None
    ) -> UploadResult:
        """``media/upload``: a temporary media id for a photo or a file to send."""

        async def post(token: str) -> Mapping[str, Any]:
            # Built anew per try (a sent form cannot be sent again); the name as UTF-8, as
            # WeCom reads it, not percent-quoted.
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("media", content, filename=file_name, content_type=content_type)
            params = {"access_token": token, "type": str(kind)}
            return await self._request("POST", "media/upload", params=params, data=form)

        return UploadResult.from_json(await self._with_token(post))

    async def get_media(self, media_id: str) -> MediaResult:
        """``media/get``: a member's photo or file by its media id (bytes, name and type)."""
        token = await self.access_token()
        result = await self._download(media_id, token)
        if result.errcode in TOKEN_REJECTED:
            self._forget(token)
            result = await self._download(media_id, await self.access_token())
        return result

    async def call(self, method: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """POST ``payload`` to ``method`` with the token; once more with a new token when
        WeCom rejects the first one."""
        return await self._with_token(lambda token: self._post(method, token, payload))

    async def _with_token(
        self, call: Callable[[str], Awaitable[Mapping[str, Any]]]
    ) -> Mapping[str, Any]:
        token = await self.access_token()
        data = await call(token)
        if int(data.get("errcode", 0)) in TOKEN_REJECTED:
            self._forget(token)
            data = await call(await self.access_token())
        return data

    def _fresh(self, token: _Token | None) -> bool:
        return token is not None and self._clock.now() < token.refresh_at

    def _forget(self, token: str) -> None:
        # Only the token that failed: a concurrent call may already have fetched a new one.
        if self._token is not None and self._token.value == token:
            self._token = None

    async def _fetch_token(self) -> _Token:
        params = {"corpid": self._corp_id, "corpsecret": self._secret}
        data = await self._request("GET", "gettoken", params=params)
        errcode = int(data.get("errcode", 0))
        if errcode or not data.get("access_token"):
            raise WeComTokenError(errcode, str(data.get("errmsg", "")))
        life = timedelta(seconds=int(data.get("expires_in", 7200)))
        margin = min(EXPIRY_MARGIN, life / 2)
        return _Token(str(data["access_token"]), self._clock.now() + life - margin)

    async def _post(
        self, method: str, token: str, payload: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        return await self._request("POST", method, params={"access_token": token}, json=payload)

    async def _request(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, str],
        json: Any = None,
        data: Any = None,
    ) -> Mapping[str, Any]:
        url = f"{self.base_url}/{method}"
        try:
            async with self._http().request(
                verb, url, params=params, json=json, data=data
            ) as response:
                if response.status != 200:
                    raise WeComTransportError(f"{method}: HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            never = f"{method}: {type(error).__name__}"
            raise WeComTransportError(never, never_sent=True) from None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The error's text may hold the URL, and the URL the secret or the token: say
            # what failed, not where.
            raise WeComTransportError(f"{method}: {type(error).__name__}") from None
        if not isinstance(answer, Mapping):
            raise WeComTransportError(f"{method}: the answer is not a JSON object")
        return answer

    async def _download(self, media_id: str, token: str) -> MediaResult:
        url = f"{self.base_url}/media/get"
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http().get(url, params=params) as response:
                if response.status != 200:
                    raise WeComTransportError(f"media/get: HTTP {response.status}")
                body = await response.read()
                kind = response.content_type
                disposition = response.headers.get("Content-Disposition", "")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise WeComTransportError(f"media/get: {type(error).__name__}") from None
        if kind in JSON_TYPES:  # WeCom answers an error as JSON, a file as itself
            try:
                return MediaResult.from_json(_json_object(body))
            except ValueError:
                raise WeComTransportError("media/get: an unreadable error answer") from None
        return MediaResult(
            0, "ok", content=body, file_name=_file_name(disposition), content_type=kind
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
            self._owns_session = True
        return self._session


def _json_object(body: bytes) -> Mapping[str, Any]:
    data = loads(body)
    if not isinstance(data, Mapping):
        raise ValueError("not a JSON object")
    return data


def _file_name(disposition: str) -> str | None:
    """The file name of a ``Content-Disposition`` header (``filename="…"`` as WeCom sends
    it, or RFC 6266's ``filename*=UTF-8''…``)."""
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename*" and "''" in value:
            return unquote(value.split("''", 1)[1]) or None
        if name.lower() == "filename":
            return value.strip('"') or None
    return None
