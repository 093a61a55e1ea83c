"""shiba's own REST routes, beside TensorFlow Serving's and under a prefix no TF Serving client uses.

Routes (mounted on the port's router at ``/shiba/``; errors answered as TF Serving's are)::

    GET  /shiba/v1/models                                      every model, as below, in a list
    GET  /shiba/v1/models/{name}[/versions/{v}|/labels/{l}]    which engine serves each signature

The answer lists the model's versions as the status API does (newest first, or the one asked
for), each with its state and, while it is loaded, the engine serving each signature and why::

    {"model": "ViT", "versions": [{"version": "1", "state": "AVAILABLE", "runtime": "tensorflow",
      "signatures":
      {"serving_default": {"engine": "openvino", "reason": "verified, max abs diff 3e-07",
                           "max_abs_diff": 3e-07}}}]}

``max_abs_diff`` is ``null`` where the engines were not compared. A loaded version whose folder
has class names (``assets.extra/labels.txt``, see ``core/labels.py``) also has
``"labels": ["0", "1", ...]``. ``GET /shiba/v1/models`` answers ``{"models": [...]}``, one entry
as above per model the server knows, by name (a model whose versions are not found yet has an
empty ``versions`` list). A version that failed has
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
from shiba.core.labels import ClassLabels
from shiba.core.lifecycle.states import ServableState
from shiba.core.service import ModelService
from shiba.protocols.http.routes import Request, Response

__all__ = ["ShibaRoutes"]

_MODELS = "/shiba/v1/models"
_MODEL = re.compile(r"/shiba/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?")


class ShibaRoutes:
    """Answers ``GET`` under ``/shiba/``. Stateless but for what it reads; thread-safe."""

    prefix = "/shiba/"
    public: frozenset[str] = frozenset()

    def __init__(
        self, service: ModelService, engines: ServingEngines, labels: ClassLabels | None = None
    ) -> None:
        self._service = service
        self._engines = engines
        self._labels = labels or ClassLabels()

    def error_body(self, message: str) -> bytes:
        return encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        return None

    async def handle(self, request: Request) -> Response:
        """The JSON answer of a known route; raises ``ShibaError`` otherwise (NotFound for a path
        that is no route, or the status API's error)."""
        if request.method == "GET" and request.path.rstrip("/") == _MODELS:
            manager = self._service.manager
            models = [
                self._model(name, manager.model_states(name)) for name in manager.model_names()
            ]
            return _json({"models": models})
        match = _MODEL.fullmatch(request.path) if request.method == "GET" else None
        if match is None:
            raise NotFound(f"Not found: {request.method} {request.path}")
        name, version, label = match.groups()
        states = self._service.status(name, int(version) if version else None, label or None)
        return _json(self._model(name, states))

    def _model(self, name: str, states: list[ServableState]) -> dict[str, Any]:
        versions: list[dict[str, Any]] = []
        for state in states:
            entry: dict[str, Any] = {"version": str(state.id.version), "state": state.state.name}
            decisions = self._engines.get(state.id)
            if decisions is not None:
                entry["runtime"] = self._engines.platform(state.id) or ""
                entry["signatures"] = {
                    signature: {
                        "engine": decision.engine,
                        "reason": decision.reason,
                        "max_abs_diff": _finite(decision.max_abs_diff),
                    }
                    for signature, decision in decisions.items()
                }
            names = self._labels.get(state.id)
            if names:
                entry["labels"] = list(names)
            if state.error_code is not Code.OK:
                entry["error"] = {"code": state.error_code.name, "message": state.error_message}
            versions.append(entry)
        return {"model": name, "versions": versions}


def _json(body: dict[str, Any]) -> Response:
    return Response(200, json.dumps(body, indent=1, allow_nan=False).encode() + b"\n")


def _finite(value: float | None) -> float | None:
    # A one-sided NaN makes the difference infinite, which JSON cannot carry; the reason says it.
    return value if value is not None and math.isfinite(value) else None
