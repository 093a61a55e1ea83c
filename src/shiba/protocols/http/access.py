"""Who the REST port answers without a token: the router's auth rule, in one place.

With an ``Authenticator`` (``--auth_token_file``), every request needs its ``Authorization`` header
to pass ``check``, except a CORS preflight (``OPTIONS`` with CORS on: a browser sends it without
credentials) and a path its API lists as ``public`` (health probes, the web page's files). A
refused request is answered 401 with ``www-authenticate: Bearer`` and the API's own error body.

:class:`Gate` applies that rule from an :class:`ApiTable` (each API's prefix, public paths and 401
body), which is what a router knows of its APIs (``Router.api_table``) and can be sent to another
process: ``shiba serve``'s router checks with it, and so does ``shiba serve --ray``'s front end
before it forwards a request to a replica (whose router then checks nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shiba.protocols.http.routes import JSON, Authenticator, Headers

__all__ = ["CORS_HEADERS", "REFUSED_HEADERS", "ApiTable", "Gate", "api_key"]

#: What every answer carries when CORS is on (``RestOptions.enable_cors``).
CORS_HEADERS: Headers = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
)

#: The headers of a 401: a JSON body and the challenge that names the scheme.
REFUSED_HEADERS: Headers = (*JSON, (b"www-authenticate", b'Bearer realm="shiba"'))


def api_key(path: str) -> str:
    """The key of the API a path belongs to: its first segment with both slashes, lower-case
    (``"/v1/models/m"`` -> ``"/v1/"``, ``"/v2"`` -> ``"/v2/"``)."""
    end = path.find("/", 1)
    return (path[: end + 1] if end > 0 else path + "/").lower()


@dataclass(frozen=True, slots=True)
class ApiTable:
    """Each API's public paths and 401 body, by ``api_key``; ``fallback`` for a path no API
    claims (the catch-all's, or the 404 answerer's). Immutable and picklable."""

    apis: dict[str, tuple[frozenset[str], bytes]] = field(default_factory=dict)
    fallback: tuple[frozenset[str], bytes] = (frozenset(), b"")

    def for_path(self, path: str) -> tuple[frozenset[str], bytes]:
        """(public paths, 401 body) of the API ``path`` belongs to."""
        return self.apis.get(api_key(path), self.fallback)


class Gate:
    """The auth rule over ``table``'s APIs: ``auth`` decides, but for CORS preflights when
    ``cors`` is on and for public paths. Quick and non-blocking (as ``auth.check`` is)."""

    __slots__ = ("_auth", "_cors", "_table")

    def __init__(self, auth: Authenticator, table: ApiTable, *, cors: bool) -> None:
        self._auth = auth
        self._table = table
        self._cors = cors

    def refusal(self, method: str, path: str, headers: Headers) -> bytes | None:
        """None if the request may be answered; else the body of its 401 (to be sent with
        ``REFUSED_HEADERS``)."""
        if method == "OPTIONS" and self._cors:
            return None  # a browser's preflight carries no credentials
        public, body = self._table.for_path(path)
        if path in public:
            return None
        value = None
        for key, header in headers:
            if key == b"authorization":
                value = header
                break
        return None if self._auth.check(value) else body
