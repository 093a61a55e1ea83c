"""The auth rule (``access.Gate``) on a table a router made: what it lets through without a token,
and the 401 body it answers with, per API; the table survives pickling (it travels to a Ray front
end)."""

from __future__ import annotations

import pickle

import orjson

from shiba.protocols.http.access import ApiTable, Gate, api_key
from shiba.protocols.http.routes import UNAUTHENTICATED_MESSAGE


class _Tokens:
    """An authenticator that knows one token."""

    def check(self, authorization: bytes | None) -> bool:
        return authorization == b"Bearer good"


_TABLE = ApiTable(
    {"/v2/": (frozenset({"/v2/health/live"}), orjson.dumps({"error": UNAUTHENTICATED_MESSAGE}))},
    (frozenset({"/"}), b'{"error": "fallback"}'),
)


def test_api_key_is_the_routers_first_segment() -> None:
    assert api_key("/v1/models/m:predict") == "/v1/"
    assert api_key("/V2") == "/v2/"
    assert api_key("/static/app.js") == "/static/"


def test_the_gate_lets_through_public_paths_preflights_and_known_tokens() -> None:
    gate = Gate(_Tokens(), pickle.loads(pickle.dumps(_TABLE)), cors=True)
    assert gate.refusal("GET", "/v2/health/live", []) is None
    assert gate.refusal("GET", "/", []) is None  # the fallback's public path
    assert gate.refusal("OPTIONS", "/v2/models/m/infer", []) is None
    assert gate.refusal("POST", "/v2/models/m/infer", [(b"authorization", b"Bearer good")]) is None


def test_the_gate_refuses_with_the_apis_own_body() -> None:
    gate = Gate(_Tokens(), _TABLE, cors=False)
    refused = gate.refusal("OPTIONS", "/v2/models/m/infer", [(b"authorization", b"Bearer bad")])
    assert refused is not None
    assert orjson.loads(refused) == {"error": UNAUTHENTICATED_MESSAGE}
    assert gate.refusal("GET", "/v1/models/m", []) == b'{"error": "fallback"}'
    assert gate.refusal("GET", "/v2/health/ready", []) is not None
