"""The router: which API a path goes to, and what it owns for all of them (body limit, deadline,
CORS, auth, errors, the metrics page)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from shiba.core.errors import Code, InvalidArgument
from shiba.core.metrics import Metrics
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Request, Response
from shiba.protocols.options import MonitoringOptions, RestOptions
from tests.protocols._rest import call


class EchoRoutes:
    """Answers what it was sent, raises on ``/fail``, sleeps on ``/slow``; records ``observe``."""

    def __init__(self, prefix: str, public: frozenset[str] = frozenset()) -> None:
        self.prefix = prefix
        self.public = public
        self.observed: list[tuple[str, Code]] = []

    async def handle(self, request: Request) -> Response:
        if request.path.endswith("/fail"):
            raise InvalidArgument("bad input, said " + self.prefix)
        if request.path.endswith("/slow"):
            await asyncio.sleep(5)
        body = orjson.dumps(
            {
                "prefix": self.prefix,
                "method": request.method,
                "path": request.path,
                "query": request.query.decode(),
                "body": request.body.decode(),
                "auth": (request.header(b"authorization") or b"").decode(),
            }
        )
        return Response(200, body, [(b"content-type", b"application/x-echo")])

    def error_body(self, message: str) -> bytes:
        return orjson.dumps({"problem": message})

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        assert seconds >= 0
        self.observed.append((request.path, code))


class Tokens:
    def check(self, authorization: bytes | None) -> bool:
        return authorization == b"Bearer sesame"


def test_a_path_goes_to_the_api_of_its_first_segment_case_insensitively() -> None:
    v1, v2, root = EchoRoutes("/v1/"), EchoRoutes("/v2/"), EchoRoutes("/")
    app = Router([v1, v2, root])
    for path, prefix in [
        ("/v1/models/m", "/v1/"),
        ("/V1/models/m:predict", "/v1/"),
        ("/v2", "/v2/"),
        ("/v2/health/live", "/v2/"),
        ("/", "/"),
        ("/index.html", "/"),
        ("/v3/x", "/"),
    ]:
        status, headers, body = call(app, "POST", path, b"{}")
        assert status == 200, path
        assert orjson.loads(body)["prefix"] == prefix, path
        assert headers[b"content-type"] == b"application/x-echo"
        assert headers[b"content-length"] == str(len(body)).encode()
    assert orjson.loads(call(app, "GET", "/v1/x", query=b"a=1")[2])["query"] == "a=1"


def test_a_path_no_api_claims_is_404_with_a_message() -> None:
    status, _, body = call(Router([EchoRoutes("/v1/")]), "GET", "/nowhere")
    assert status == 404
    assert orjson.loads(body) == {"error": "Not found: GET /nowhere"}


def test_a_prefix_is_one_segment_given_once() -> None:
    with pytest.raises(ValueError, match="one path segment"):
        Router([EchoRoutes("/v1/"), EchoRoutes("/V1/")])
    with pytest.raises(ValueError, match="one path segment"):
        Router([EchoRoutes("/v1/models/")])


def test_the_body_arrives_whole_and_an_error_is_worded_by_its_api() -> None:
    api = EchoRoutes("/v1/")
    app = Router([api])
    status, _, body = call(app, "POST", "/v1/x", b"0123456789" * 10, chunks=7)
    assert status == 200
    assert orjson.loads(body)["body"] == "0123456789" * 10
    status, _, body = call(app, "POST", "/v1/fail")
    assert (status, orjson.loads(body)) == (400, {"problem": "bad input, said /v1/"})
    assert api.observed == [("/v1/x", Code.OK), ("/v1/fail", Code.INVALID_ARGUMENT)]


def test_a_body_over_the_limit_is_413_declared_or_not() -> None:
    api = EchoRoutes("/v1/")
    app = Router([api], RestOptions(max_body_bytes=50))
    declared = call(app, "POST", "/v1/x", b"x" * 10, [(b"content-length", b"51")])
    assert declared[0] == 413
    assert "limit of 50 bytes" in orjson.loads(declared[2])["problem"]
    streamed = call(app, "POST", "/v1/x", b"x" * 60, chunks=3)
    assert streamed[0] == 413
    bad = call(app, "POST", "/v1/x", b"", [(b"content-length", b"lots")])
    assert bad[0] == 400
    assert [code for _, code in api.observed] == [
        Code.RESOURCE_EXHAUSTED,
        Code.RESOURCE_EXHAUSTED,
        Code.INVALID_ARGUMENT,
    ]


def test_a_request_past_the_deadline_is_504() -> None:
    api = EchoRoutes("/v1/")
    status, _, body = call(Router([api], RestOptions(timeout_seconds=0.05)), "GET", "/v1/slow")
    assert status == 504
    assert orjson.loads(body) == {"problem": "Request timed out after 0.05 seconds"}
    assert api.observed == [("/v1/slow", Code.DEADLINE_EXCEEDED)]


def test_cors_answers_preflights_and_marks_every_answer() -> None:
    app = Router([EchoRoutes("/v1/")], RestOptions(enable_cors=True))
    status, headers, body = call(app, "OPTIONS", "/v1/models/m:predict")
    assert (status, body) == (204, b"")
    assert headers[b"access-control-allow-origin"] == b"*"
    assert call(app, "GET", "/v1/x")[1][b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-origin" not in call(Router([EchoRoutes("/v1/")]), "GET", "/")[1]


def test_auth_refuses_before_the_api_sees_anything_but_lets_public_paths_through() -> None:
    api = EchoRoutes("/v2/", public=frozenset({"/v2/health/live"}))
    app = Router([api], RestOptions(enable_cors=True), auth=Tokens())
    for headers in ([], [(b"authorization", b"Bearer wrong")], [(b"authorization", b"sesame")]):
        status, answer_headers, body = call(app, "POST", "/v2/models/m/infer", b"{}", headers)
        assert status == 401
        assert answer_headers[b"www-authenticate"].startswith(b"Bearer")
        assert "Authorization: Bearer" in orjson.loads(body)["problem"]
    assert api.observed == []
    good = call(app, "POST", "/v2/models/m/infer", b"{}", [(b"authorization", b"Bearer sesame")])
    assert good[0] == 200
    assert call(app, "GET", "/v2/health/live")[0] == 200
    assert call(app, "OPTIONS", "/v2/models/m/infer")[0] == 204
    assert call(app, "GET", "/elsewhere")[0] == 401  # unknown paths reveal nothing either


def test_the_metrics_page_is_the_routers_and_needs_metrics() -> None:
    metrics = Metrics()
    app = Router([EchoRoutes("/v1/")], metrics=metrics, monitoring=MonitoringOptions(enabled=True))
    status, headers, body = call(app, "GET", "/monitoring/prometheus/metrics")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/plain")
    assert body == metrics.render()
    with pytest.raises(ValueError, match="no Metrics"):
        Router([], monitoring=MonitoringOptions(enabled=True))


def test_a_bug_in_an_api_is_500_with_its_message_and_the_router_keeps_answering() -> None:
    class Broken(EchoRoutes):
        async def handle(self, request: Request) -> Response:
            raise KeyError("oops")

    api = Broken("/v1/")
    app = Router([api])
    status, _, body = call(app, "GET", "/v1/x")
    assert status == 500
    assert orjson.loads(body) == {"problem": "Internal error: 'oops'"}
    assert api.observed == [("/v1/x", Code.INTERNAL)]
    assert call(app, "GET", "/nowhere")[0] == 404
