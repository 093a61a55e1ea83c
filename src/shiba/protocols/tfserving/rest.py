"""TensorFlow Serving's REST API: the routes under ``/v1/``, mounted on the port's router.

Routes (TensorFlow Serving's http_rest_api_handler, matched case-insensitively)::

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    model metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict     predict (row or columnar JSON)
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify    classify (tf.Example JSON)
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress     regress (tf.Example JSON)

Any other path under ``/v1/`` is a malformed request (400). With ``metrics``, every request under
``/v1/`` is counted and timed as TF Serving's http_server.cc does (``observe``). A handler only
parses, calls the service and encodes; deadlines, body limits, CORS and the metrics page are the
router's (``protocols/http/router.py``).
"""

from __future__ import annotations

import asyncio
import re
from time import perf_counter_ns
from typing import Any

from shiba.codecs import tfs_json
from shiba.core.errors import Code, InvalidArgument
from shiba.core.ids import ModelSpec
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService
from shiba.protocols.http.routes import Request, Response
from shiba.protocols.options import RestOptions

__all__ = ["TFServingRoutes"]

_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?",
    re.IGNORECASE,
)


class TFServingRoutes:
    """The ``/v1/`` routes. Stateless but for its options, the service it calls and where it
    records (``Metrics.record_request``, entrypoint "REST", when ``metrics`` is given)."""

    prefix = "/v1/"
    public: frozenset[str] = frozenset()

    def __init__(
        self,
        service: ModelService,
        options: RestOptions | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._service = service
        self._statistics = service.statistics
        self._options = options or RestOptions()
        self._metrics = metrics

    def error_body(self, message: str) -> bytes:
        return tfs_json.encode_error(message)

    def observe(self, request: Request, code: Code, seconds: float) -> None:
        if self._metrics is not None:
            name, api = request.labels or _metric_labels(
                request.method, _route(request.method, request.path)
            )
            self._metrics.record_request(name, api, "REST", code, seconds)

    async def handle(self, request: Request) -> Response:
        method = request.method
        match = _route(method, request.path)
        if match is not None and method == "POST":
            name, version, label, verb = match.groups()
            verb = verb.lower()
            request.labels = (name, verb)  # as ``_metric_labels``: ``observe`` parses no more
            spec = _model_spec(name, version, label)
            return Response(200, await self._infer(verb, spec, request.body))
        if match is not None:  # a GET: ``_route`` matches POST and GET only
            name, version, label, metadata = match.groups()
            request.labels = (name or "", "")
            if not name:
                raise InvalidArgument("Missing model name in request.")
            if metadata:
                return Response(200, self._metadata(_model_spec(name, version, label)))
            states = self._service.status(name, int(version) if version else None, label or None)
            return Response(200, tfs_json.encode_status(states))
        raise InvalidArgument(f"Malformed request: {method} {request.path}")

    def _metadata(self, spec: ModelSpec) -> bytes:
        with self._service.acquire(spec) as handle:
            return tfs_json.encode_metadata(
                spec.name, handle.id.version, handle.servable.signatures
            )

    async def _infer(self, verb: str, spec: ModelSpec, body: bytes) -> bytes:
        service = self._service
        statistics = self._statistics
        inline = len(body) <= self._options.inline_decode_bytes
        with service.acquire(spec) as handle:
            start = perf_counter_ns()
            try:
                if verb == "predict":

                    def signature_for(name: str) -> Any:
                        return service.signature(handle, name)[1]

                    if inline:
                        request = tfs_json.decode_predict(body, signature_for)
                    else:
                        request = await asyncio.to_thread(
                            tfs_json.decode_predict, body, signature_for
                        )
                    decoded = perf_counter_ns()
                    outputs = await service.predict(handle, request.signature_name, request.inputs)
                    ran = perf_counter_ns()
                    if inline:
                        answer = tfs_json.encode_predict(outputs, request.columnar)
                    else:
                        answer = await asyncio.to_thread(
                            tfs_json.encode_predict, outputs, request.columnar
                        )
                else:
                    examples = tfs_json.decode_examples(body)
                    decoded = perf_counter_ns()
                    if verb == "classify":
                        classes = await service.classify(
                            handle, examples.signature_name, examples.examples
                        )
                        ran = perf_counter_ns()
                        answer = tfs_json.encode_classify(classes)
                    else:
                        values = await service.regress(
                            handle, examples.signature_name, examples.examples
                        )
                        ran = perf_counter_ns()
                        answer = tfs_json.encode_regress(values)
            except BaseException:
                statistics.failed(handle.id, start)
                raise
            statistics.answered(handle.id, start, decoded, ran)
            return answer


def _route(method: str, path: str) -> re.Match[str] | None:
    """Which API a request calls: a match of ``_PREDICT`` for a POST, of ``_STATUS`` for a GET."""
    if method == "POST":
        return _PREDICT.fullmatch(path)
    if method == "GET":
        return _STATUS.fullmatch(path)
    return None


def _metric_labels(method: str, match: re.Match[str] | None) -> tuple[str, str]:
    """A /v1/ request's ``model_name`` and ``API`` labels, as http_server.cc takes them: the model
    name in the path ("" if none) and, for a POST, its verb ("" for status and metadata)."""
    if match is None:
        return "", ""
    if method == "POST":
        return match[1], match[4].lower()
    return match[1] or "", ""


def _model_spec(name: str, version: str | None, label: str | None) -> ModelSpec:
    return ModelSpec(name, int(version) if version else None, label or None)
