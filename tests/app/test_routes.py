"""The web application's routes on the router: its files at ``/``, 404 elsewhere, public under
auth, beside the APIs."""

from __future__ import annotations

import asyncio
import json

import pytest

from shiba.app.routes import AppRoutes
from shiba.core.errors import NotFound
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Request
from shiba.protocols.options import RestOptions
from tests.protocols._rest import call


def request(method: str, path: str) -> Request:
    return Request(method, path, b"", [], b"")


def test_files_and_their_headers() -> None:
    routes = AppRoutes()
    page = asyncio.run(routes.handle(request("GET", "/")))
    headers = dict(page.headers)
    assert page.status == 200 and page.body.startswith(b"<!doctype html>")
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"content-security-policy"].startswith(b"default-src 'self'")
    head = asyncio.run(routes.handle(request("HEAD", "/static/app.js")))
    assert head.status == 200 and head.body == b""


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/"), ("GET", "/static")])
def test_anything_else_is_not_found(method: str, path: str) -> None:
    with pytest.raises(NotFound, match=f"Not found: {method} {path}"):
        asyncio.run(AppRoutes().handle(request(method, path)))


class Refuse:
    def check(self, authorization: bytes | None) -> bool:
        return False


def test_on_the_router_the_page_is_public_and_errors_are_json() -> None:
    app = Router([AppRoutes()], RestOptions(), auth=Refuse())
    status, headers, body = call(app, "GET", "/static/app.css")
    assert status == 200 and headers[b"content-type"] == b"text/css; charset=utf-8"
    status, _, body = call(Router([AppRoutes()], RestOptions()), "GET", "/missing")
    assert (status, json.loads(body)) == (404, {"error": "Not found: GET /missing"})
