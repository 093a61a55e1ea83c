"""What the router hands an API and takes back: one request, one response, and the two protocols
an API (``Routes``) and an authenticator implement.

Contract of a ``Routes``, as the router calls it (from the event loop's thread, one call per
request, concurrently for many requests, so a ``Routes`` keeps no per-request state):

- the router sends it every request whose path starts with its ``prefix`` (ASCII
  case-insensitively); a prefix is one path segment (``"/v1/"``, ``"/shiba/"``), or ``"/"`` for
  the catch-all that gets every request no other prefix took. ``"/v2"`` (no trailing slash) goes to
  ``"/v2/"``'s routes.
- ``handle`` gets the whole body, already read within the body limit, and returns the answer, or
  raises ``ShibaError``; the router answers ``http_status(code)`` with ``error_body(message)``.
  ``handle`` must not block the loop: heavy decoding goes to a thread (``asyncio.to_thread``).
- ``observe`` is called once per request routed to it, after its answer is decided and whatever
  that answer is (an error the router decided too: 413, 504...), for the API's request metrics.
  ``handle`` may leave the request's metric labels in ``Request.labels`` (it has parsed the path
  already); ``observe`` works them out from the path when they are not there (``handle`` never
  ran, or stopped before it knew them).
- with an authenticator, paths in ``public`` are answered without asking it (health probes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shiba.core.errors import Code

__all__ = [
    "Headers",
    "JSON",
    "Request",
    "Response",
    "Routes",
    "Authenticator",
    "UNAUTHENTICATED_MESSAGE",
]

#: Header (name, value) pairs; names lower-case.
Headers = Sequence[tuple[bytes, bytes]]

#: The content type of a JSON answer, the default of ``Response.headers``.
JSON: Headers = ((b"content-type", b"application/json"),)


@dataclass(slots=True)
class Request:
    """One HTTP request. ``path`` is percent-decoded and without the query; ``method`` upper-case.
    ``labels``: the (model name, API) metric labels its ``Routes.handle`` found in the path, for
    ``Routes.observe``; None until then."""

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes
    labels: tuple[str, str] | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Response:
    """One answer. The router adds ``content-length`` (and CORS headers when they are on)."""

    status: int
    body: bytes
    headers: Headers = JSON


class Routes(Protocol):
    """One API's routes under one path prefix; see the module docstring for the contract."""

    @property
    def prefix(self) -> str: ...

    @property
    def public(self) -> frozenset[str]: ...

    async def handle(self, request: Request) -> Response: ...

    def error_body(self, message: str) -> bytes: ...

    def observe(self, request: Request, code: Code, seconds: float) -> None: ...


#: What a request an ``Authenticator`` refuses is told: REST's 401 and gRPC's UNAUTHENTICATED alike.
UNAUTHENTICATED_MESSAGE = (
    "Missing or invalid credentials: send the header 'Authorization: Bearer <token>' (gRPC: the"
    " metadata 'authorization') with a token the server accepts"
)


class Authenticator(Protocol):
    """Decides whether a request may be answered, from its ``Authorization`` header alone.

    Called on the event loop for every non-public request: must be quick and must not block.
    """

    def check(self, authorization: bytes | None) -> bool: ...
