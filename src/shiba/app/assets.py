"""The web application's files, shipped as package data in ``shiba/app/static/`` and read once.

``GET /`` (and ``/index.html``) is the page; ``GET /static/{name}`` its script and style sheet.
Nothing else is a file: :meth:`StaticFiles.get` says ``None`` and the caller answers 404.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["StaticFiles", "CONTENT_TYPES", "SECURITY_HEADERS"]

CONTENT_TYPES: dict[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".png": b"image/png",
    ".svg": b"image/svg+xml",
}

#: Sent with every file: the page loads nothing but its own files and talks to its own server.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-cache"),
)


class StaticFiles:
    """Path -> (content type, bytes) for every file of ``static/``; immutable once built."""

    def __init__(self) -> None:
        folder = resources.files("shiba.app") / "static"
        self._files: dict[str, tuple[bytes, bytes]] = {}
        for entry in folder.iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if entry.is_file() and suffix in CONTENT_TYPES:
                self._files["/static/" + entry.name] = (CONTENT_TYPES[suffix], entry.read_bytes())
        page = self._files["/static/index.html"]
        self._files["/"] = self._files["/index.html"] = page

    def get(self, path: str) -> tuple[bytes, bytes] | None:
        """``(content type, body)`` of the file at ``path``, or ``None``."""
        return self._files.get(path)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._files)
