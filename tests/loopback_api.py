"""The offline Bot API served over loopback HTTP, for code that builds its own `telegram.Bot`
(the CLI): method calls with form-encoded string parameters, and file downloads."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from offline.bot_api import OfflineBotAPI


class _Form:
    """What `OfflineBotAPI` reads of PTB's RequestData, for form fields sent over HTTP."""

    contains_files = False

    def __init__(self, fields: dict[str, str]) -> None:
        self.parameters = self.json_parameters = fields


class _Forward(RequestHandler):
    """One HTTP request, answered by the offline API as Telegram would answer it."""

    def initialize(self, api: OfflineBotAPI) -> None:
        self.api = api

    async def post(self, _token: str, method: str) -> None:
        fields = {name: v[-1].decode() for name, v in self.request.body_arguments.items()}
        url = self.request.full_url()
        await self._answer(await self.api.do_request(url, "POST", _Form(fields)))  # type: ignore[arg-type]

    async def get(self, _token: str, _path: str) -> None:
        await self._answer(await self.api.do_request(self.request.full_url(), "GET"))

    async def _answer(self, answer: tuple[int, bytes]) -> None:
        status, body = answer
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        await self.finish(body)


@asynccontextmanager
async def serving(api: OfflineBotAPI) -> AsyncIterator[str]:
    """Serve ``api`` on a free loopback port; yields the ``TELEGRAM_API_BASE_URL`` to use."""
    routes = [
        (r"/file/bot([^/]+)/(.+)", _Forward, {"api": api}),
        (r"/bot([^/]+)/(\w+)", _Forward, {"api": api}),
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = HTTPServer(Application(routes))
    server.listen(port, address="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        server.stop()
