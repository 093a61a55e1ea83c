"""shiba's own REST routes, beside TensorFlow Serving's and under a prefix no TF Serving client uses.

Routes (mounted on the port's router at ``/shiba/``; errors answered as TF Serving's are)::

    GET  /shiba/v1/models/{name}[/versions/{v}|/labels/{l}]    which engine serves each signature

The answer lists the model's versions as the status API does (newest first, or the one asked
for), each with its state and, while it is loaded, the engine serving each signature and why::

    {"model": "ViT", "versions": [{"version": "1", "state": "AVAILABLE", "signatures":
      {"serving_default": {"engine": "openvino", "reason": "verified, max abs diff 3e-07",
                           "max_abs_diff": 3e-07}}}]}

``max_abs_diff`` is ``null`` where the engines were not compared. A version that failed has
``"error": {"code": "FAILED_PRECONDITION", "message": "..."}`` instead of signatures. An unknown
model, version or label is the status API's error (404 or 400, ``{"error": "..."}``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from shiba.codecs.tfs_json import encode_error
from shiba.core.engines import ServingEngines
from shiba.core.errors import Code, NotFound
from shiba.core.service import ModelService
from shiba.protocols.http.routes import Request, Response

__all__ = ["ShibaRoutes"]

_MODEL = re.compile(r"/shiba/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?")


class ShibaRoutes:
    """Answers ``GET`` under ``/shiba/``. Stateless but for what it reads; thread-safe."""

    prefix = "/shiba/"
    public: frozenset[str] = frozenset()

    def __init__(self, service: ModelService, engines: ServingEngines) -> None:
        self._service = service
        self._engines = engines

    def error_body(self, message: str) -> bytes:
        return encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        return None

    async def handle(self, request: Request) -> Response:
        """The JSON answer of a known route; raises ``ShibaError`` otherwise (NotFound for a path
        that is no route, or the status API's error)."""
        match = _MODEL.fullmatch(request.path) if request.method == "GET" else None
        if match is None:
            raise NotFound(f"Not found: {request.method} {request.path}")
        name, version, label = match.groups()
        states = self._service.status(name, int(version) if version else None, label or None)
        versions: list[dict[str, Any]] = []
        for state in states:
            entry: dict[str, Any] = {"version": str(state.id.version), "state": state.state.name}
            decisions = self._engines.get(state.id)
            if decisions is not None:
                entry["signatures"] = {
                    signature: {
                        "engine": decision.engine,
                        "reason": decision.reason,
                        "max_abs_diff": _finite(decision.max_abs_diff),
                    }
                    for signature, decision in decisions.items()
                }
            if state.error_code is not Code.OK:
                entry["error"] = {"code": state.error_code.name, "message": state.error_message}
            versions.append(entry)
        body = {"model": name, "versions": versions}
        return Response(200, json.dumps(body, indent=1, allow_nan=False).encode() + b"\n")


def _finite(value: float | None) -> float | None:
    # A one-sided NaN makes the difference infinite, which JSON cannot carry; the reason says it.
    return value if value is not None and math.isfinite(value) else None
