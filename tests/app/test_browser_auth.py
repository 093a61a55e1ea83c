"""The web application behind a router that wants a token: its files load without one, the page
asks for the token when the API answers 401, and sends it from then on."""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from shiba.app.routes import AppRoutes
from shiba.codecs.tfs_json import encode_error
from shiba.core.errors import Code
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Request, Response
from shiba.protocols.http.server import HttpServer
from shiba.protocols.options import RestOptions
from tests.app.conftest import shot

pytestmark = [pytest.mark.slow]


class OneToken:
    def check(self, authorization: bytes | None) -> bool:
        return authorization is not None and hmac.compare_digest(authorization, b"Bearer s3cret")


class ModelList:
    """``GET /shiba/v1/models`` with one model, as shiba's own route answers it."""

    prefix = "/shiba/"
    public: frozenset[str] = frozenset()

    async def handle(self, request: Request) -> Response:
        return Response(200, b'{"models": [{"model": "m", "versions": [{"version": "3", '
                             b'"state": "AVAILABLE"}]}]}')  # fmt: skip

    def error_body(self, message: str) -> bytes:
        return encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        return None


@pytest.fixture
def guarded() -> Iterator[str]:
    """The router served on its own thread's event loop (Playwright's sync API runs a loop on
    the test's thread, so this one cannot be driven from there)."""
    loop = asyncio.new_event_loop()
    app = Router([AppRoutes(), ModelList()], RestOptions(), auth=OneToken())
    server = HttpServer(app, "127.0.0.1", 0)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(2.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_page_asks_for_the_token_and_uses_it(guarded: str, page: Any) -> None:
    page.goto(guarded + "/")
    error = page.locator("#error")
    error.wait_for()
    assert error.inner_text().startswith("HTTP 401: Missing or invalid credentials")
    page.fill("#token", "wrong")
    page.click("#token-form button")
    page.locator("#token-form").wait_for()
    page.fill("#token", "s3cret")
    with page.expect_request("**/shiba/v1/models") as sent:
        page.click("#token-form button")
    assert sent.value.headers["authorization"] == "Bearer s3cret"
    page.locator("#models-table .model-link", has_text="m").wait_for()
    shot(page, "token")
