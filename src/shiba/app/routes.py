"""The web application as a ``Routes`` at ``/`` on the REST port's router (``--web_ui``).

``GET /`` is the page, ``GET /static/{name}`` its script and style sheet (``assets.py``); every
other path the router sends here (those under no other API's prefix) is a 404 with TF Serving's
error body. The files are public: with auth on, the page loads without a token; when an API call
is refused (401) the page asks for one and sends it from then on.
"""

from __future__ import annotations

from shiba.app.assets import SECURITY_HEADERS, StaticFiles
from shiba.codecs.tfs_json import encode_error
from shiba.core.errors import Code, NotFound
from shiba.protocols.http.routes import Request, Response

__all__ = ["AppRoutes"]


class AppRoutes:
    """The catch-all ``/`` routes serving the page's files; immutable, so safe from any thread."""

    prefix = "/"

    def __init__(self, files: StaticFiles | None = None) -> None:
        self._files = files or StaticFiles()
        self.public: frozenset[str] = self._files.paths

    def error_body(self, message: str) -> bytes:
        return encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        return None

    async def handle(self, request: Request) -> Response:
        """The file at the request's path (``GET`` or ``HEAD``); ``NotFound`` otherwise."""
        found = self._files.get(request.path) if request.method in ("GET", "HEAD") else None
        if found is None:
            raise NotFound(f"Not found: {request.method} {request.path}")
        content_type, body = found
        headers = ((b"content-type", content_type), *SECURITY_HEADERS)
        return Response(200, b"" if request.method == "HEAD" else body, headers)
