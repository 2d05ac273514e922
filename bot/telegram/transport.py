"""The HTTP transport of the Bot API calls: aiohttp, in place of PTB's default httpx.

Measured on the loopback fake Bot API (benchmarks/update_cost.py), one sendMessage costs about
2 ms of CPU through httpx and 0.5–0.6 ms through aiohttp (PTB's own encoding and parsing, 0.3
ms, included): httpx's pure-Python HTTP/1.1 and anyio layers cost more than everything else a
form step does. Errors keep PTB's meaning: ``TimedOut`` for timeouts, ``NetworkError`` for the
rest, the library's exception as ``__cause__``; `never_sent` tells which failures provably
left nothing at Telegram, whichever transport raised them. ``BOT_API_TRANSPORT=httpx`` goes
back to PTB's HTTPXRequest.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

# PTB's HTTPXRequest defaults, in seconds.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
MEDIA_READ_TIMEOUT = 20.0
FORM_URLENCODED = "application/x-www-form-urlencoded"
# Failures raised before a request could reach Telegram.
_NOT_SENT = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def never_sent(error: BaseException) -> bool:
    """Whether a failed call provably never reached Telegram (no connection, no pool slot)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, _NOT_SENT):
            return True
        # PTB's pool timeout (and a transport that says so) tells it in words: "*not* sent".
        if isinstance(cause, TimedOut) and "not sent" in str(cause).replace("*", "").lower():
            return True
        seen.add(id(cause))
        cause = cause.__cause__
    return False


def bot_api_request(kind: str, *, connections: int = 256) -> BaseRequest:
    """The transport named by BOT_API_TRANSPORT (``aiohttp`` or ``httpx``)."""
    if kind == "httpx":
        return HTTPXRequest(connection_pool_size=connections)
    return AiohttpRequest(connections=connections)


class AiohttpRequest(BaseRequest):
    """PTB's ``BaseRequest`` on one aiohttp ClientSession (a pool of keep-alive connections)."""

    def __init__(self, *, connections: int = 256) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a long poll's timeout to it)."""
        return READ_TIMEOUT

    async def initialize(self) -> None:
        """Open the session (on the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One Bot API call; its status and body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        timeout = _timeout(read_timeout, connect_timeout, pool_timeout, bool(files))
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise TimedOut("Connect or pool timeout: the request was not sent") from error
        except (aiohttp.ServerTimeoutError, TimeoutError) as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error


def _given(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


def _timeout(read: Any, connect: Any, pool: Any, media: bool) -> aiohttp.ClientTimeout:
    # aiohttp's ``connect`` covers waiting for a pooled connection and opening one; PTB's
    # write timeout has no aiohttp counterpart (a large upload gets the media read timeout).
    read_s = _given(read, MEDIA_READ_TIMEOUT if media else READ_TIMEOUT)
    connect_s = _given(connect, CONNECT_TIMEOUT)
    pool_s = _given(pool, POOL_TIMEOUT)
    waiting = None if connect_s is None or pool_s is None else connect_s + pool_s
    return aiohttp.ClientTimeout(
        total=None, connect=waiting, sock_connect=connect_s, sock_read=read_s
    )


def _body(request_data: RequestData | None) -> Any:
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        # Form-encoded, as PTB's httpx transport sends, and handed over finished: given a dict,
        # aiohttp tries every payload type, then builds a multipart writer (and its random
        # boundary) only to url-encode the dict, 5% of a form step's CPU.
        body = request_data.url_encoded_parameters().encode()
        return aiohttp.BytesPayload(body, content_type=FORM_URLENCODED)
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in files.items():
        filename, content, mime_type = part if len(part) == 3 else (*part, None)
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
