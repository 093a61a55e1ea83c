"""The REST port's app as ``server/compose.py`` builds it (the router with TF Serving's and
shiba's routes mounted), and one request through an ASGI app in process."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping, Sequence
from typing import Any

from shiba.core.engines import ServingEngines
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Routes
from shiba.protocols.options import MonitoringOptions, RestOptions
from shiba.protocols.shiba.rest import ShibaRoutes
from shiba.protocols.tfserving.rest import TFServingRoutes

#: An answer: (status, headers, body).
Answer = tuple[int, dict[bytes, bytes], bytes]


def rest_app(
    service: ModelService,
    options: RestOptions | None = None,
    *,
    metrics: Metrics | None = None,
    monitoring: MonitoringOptions | None = None,
    engines: ServingEngines | None = None,
) -> Router:
    routes: list[Routes] = [TFServingRoutes(service, options, metrics=metrics)]
    if engines is not None:
        routes.append(ShibaRoutes(service, engines))
    return Router(routes, options, metrics=metrics, monitoring=monitoring)


def call(
    app: Router,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    query: bytes = b"",
    chunks: int = 1,
) -> Answer:
    """One request through ``app`` on a fresh event loop, its body received in ``chunks``."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": list(headers),
    }
    sent: list[MutableMapping[str, Any]] = []
    size = max(1, -(-len(body) // chunks))
    queue = [body[i : i + size] for i in range(0, len(body), size)] or [b""]

    async def receive() -> dict[str, Any]:
        part = queue.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(queue)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]
