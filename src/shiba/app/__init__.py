"""shiba's web application: a models page and a try-it page per model, served at ``/`` on the REST
port. The page is static (``static/``: HTML, CSS and a little JavaScript, no library, nothing from
a CDN) and calls the server's public REST API from the browser."""

from __future__ import annotations

__all__: list[str] = []
