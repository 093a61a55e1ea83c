"""The front end of ``shiba serve --ray``: shiba's REST and gRPC listeners, forwarding to replicas.

It runs no model. Each request becomes a :data:`~shiba.integrations.ray.Call` and goes to a
replica through the deployment's handle; the replica's answer is sent back as it is, so status
codes, headers and error messages are those of ``shiba serve``.

Why calls travel in groups: one Ray Serve handle call costs a few milliseconds of CPU (router,
serialization, the actor call; ``benchmarks/ray_serve.py`` measures it), far more than a small
predict. So ``_SENDERS`` tasks each take every request waiting in the queue (up to ``_MAX_GROUP``),
send them as one call, and answer each from the list that comes back. With one request at a time
each call carries one, and the latency is that of a single hop; under load the cost of a hop is
shared by the requests that waited for it.

A gRPC call's deadline travels with it: the seconds left when its group is sent, after which the
replica cancels it and answers DEADLINE_EXCEEDED (``ShibaReplica.grpc``), so a call whose client
gave up does not keep a replica busy; a call whose deadline passed while it waited here is not
sent.

A group whose replica dies before answering (``RayActorError``) is sent again, up to
``_ATTEMPTS`` times; Ray routes it to a live replica and starts a new one in the dead one's place.
Any other error of the call fails the group's requests (INTERNAL, with Ray's message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from shiba import _proto
from shiba.codecs.tfs_json import encode_error
from shiba.config.settings import ServerSettings
from shiba.core.errors import Code, Internal, ShibaError, Unavailable
from shiba.protocols._asgi import ASGIApp, Receive, Scope, Send
from shiba.protocols._grpc_handlers import Handler, add_handlers, rpc_deadline
from shiba.protocols.http.access import CORS_HEADERS, REFUSED_HEADERS, ApiTable, Gate
from shiba.protocols.http.router import HttpError, read_body
from shiba.protocols.http.routes import JSON
from shiba.protocols.status import http_status
from shiba.protocols.v2.grpc import SERVICE as V2_SERVICE
from shiba.protocols.v2.grpc import v2_stream_handlers
from shiba.server.run import serve_ports

__all__ = ["DEADLINE_PASSED", "RPCS", "Forwarder", "run_front_end"]

log = logging.getLogger("shiba.ray")

#: The RPCs of TensorFlow Serving's services and of the Open Inference Protocol's, each forwarded
#: to one replica (a config reload and RepositoryModelLoad/Unload, as a REST ``/v2/repository``
#: load or unload, reach the others through that replica: ``ray_config``).
#: ModelStreamInfer is served here, each request of a stream forwarded as a ModelInfer call.
RPCS: dict[str, tuple[str, ...]] = {
    _proto.PREDICTION_SERVICE: (
        "Predict",
        "Classify",
        "Regress",
        "MultiInference",
        "GetModelMetadata",
    ),
    _proto.MODEL_SERVICE: ("GetModelStatus", "HandleReloadConfigRequest"),
    V2_SERVICE: (
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "ModelConfig",
        "ModelStatistics",
        "RepositoryIndex",
        "RepositoryModelLoad",
        "RepositoryModelUnload",
    ),
}
#: Calls out to replicas at once, and the most requests one call carries.
_SENDERS = 8
_MAX_GROUP = 32
#: Times a group is sent before its replicas' deaths are the clients' error (503 / UNAVAILABLE).
_ATTEMPTS = 3

#: The message of a gRPC call whose deadline passed before a replica answered it.
DEADLINE_PASSED = "Deadline Exceeded: the call's deadline passed before a replica answered it"

#: (kind, arguments, deadline in ``time.monotonic()`` seconds or None, the answer's future)
_Pending = tuple[str, tuple[Any, ...], float | None, "asyncio.Future[Any]"]


class Forwarder:
    """Sends requests to the replicas behind ``handle`` in groups; ``start`` and ``stop`` it on
    the event loop that serves the requests."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._calls = handle.options(method_name="calls")
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._senders: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._senders = [asyncio.create_task(self._send_groups()) for _ in range(_SENDERS)]

    async def stop(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)

    async def call(self, kind: str, *args: Any, deadline: float | None = None) -> Any:
        """One request's answer from a replica (``ShibaReplica.rest`` or ``.grpc``); a gRPC call
        with a ``deadline`` (``time.monotonic()`` seconds) is given the time left."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((kind, args, deadline, future))
        return await future

    async def _send_groups(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < _MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            now = time.monotonic()
            live: list[_Pending] = []
            for pending in group:
                future, deadline = pending[3], pending[2]
                if future.done():  # its caller is gone (a cancelled call)
                    continue
                if deadline is not None and deadline <= now:
                    future.set_result((Code.DEADLINE_EXCEEDED, DEADLINE_PASSED))
                    continue
                live.append(pending)
            if not live:
                continue
            try:
                answers = await self._send(live)
            except Exception as exc:  # the group's error: this sender goes on to the next group
                error = exc if isinstance(exc, ShibaError) else _forward_error(exc)
                for *_, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (*_, future), answer in zip(live, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _send(self, group: list[_Pending]) -> list[Any]:
        for attempt in range(1, _ATTEMPTS + 1):
            now = time.monotonic()  # each attempt tells the time left then
            batch = [
                (kind, args if deadline is None else (*args, deadline - now))
                for kind, args, deadline, _ in group
            ]
            try:
                answers: list[Any] = await self._calls.remote(batch)
                return answers
            except RayActorError as exc:
                log.warning("a replica died before answering (attempt %d): %s", attempt, exc)
                if attempt == _ATTEMPTS:
                    raise Unavailable(
                        f"no shiba replica answered in {_ATTEMPTS} attempts; the last one"
                        f" failed with: {exc}"
                    ) from None
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def rest_app(
        self, max_body_bytes: int, gate: Gate | None = None, *, cors: bool = False
    ) -> ASGIApp:
        """An ASGI application that answers each request with a replica's answer; with a
        ``gate``, a request it refuses is answered 401 here, before its body is read. With
        ``cors``, the answers made here (401, 413, a failed forward) carry the CORS headers, as
        the replicas' own answers do."""
        extra = CORS_HEADERS if cors else ()
        refused_headers = [*REFUSED_HEADERS, *extra]
        error_headers = [*JSON, *extra]

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            if gate is not None:
                refused = gate.refusal(scope["method"], scope["path"], scope["headers"])
                if refused is not None:
                    await send(
                        {"type": "http.response.start", "status": 401, "headers": refused_headers}
                    )
                    await send({"type": "http.response.body", "body": refused})
                    return
            try:
                body = await read_body(scope["headers"], receive, max_body_bytes)
                status, headers, payload = await self.call(
                    "rest",
                    scope["method"],
                    scope["path"],
                    scope["query_string"],
                    list(scope["headers"]),
                    body,
                )
            except HttpError as exc:  # the body's size or a client gone: as the router answers
                status, headers, payload = exc.status, error_headers, encode_error(exc.message)
            except ShibaError as exc:
                status, headers = http_status(exc.code), error_headers
                payload = encode_error(exc.message)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        return app

    def grpc_handlers(self) -> dict[str, dict[str, Handler]]:
        """``RPCS``, each sent to a replica."""

        def forward(method: str) -> Handler:
            async def handler(request: bytes) -> bytes:
                code, payload = await self.call("grpc", method, request, deadline=rpc_deadline())
                if code != Code.OK:
                    raise ShibaError(str(payload), code=Code(code))
                answer: bytes = payload
                return answer

            return handler

        return {
            service: {name: forward(f"{service}/{name}") for name in names}
            for service, names in RPCS.items()
        }


def _forward_error(exc: Exception) -> Internal:
    """A Ray error other than a replica's death (the application deleted, a request Ray cannot
    serialize...), as the requests' INTERNAL error."""
    log.error("a call to the shiba replicas failed: %s: %s", type(exc).__name__, exc)
    return Internal(f"the call to a shiba replica failed: {type(exc).__name__}: {exc}")


async def run_front_end(settings: ServerSettings, handle: DeploymentHandle[Any]) -> bool:
    """Serves ``settings``' REST and gRPC ports until SIGINT/SIGTERM; False if a port cannot be
    listened on. The ports are ``shiba serve``'s (``server.run.serve_ports``: TLS, token auth,
    the health service); behind them every call is forwarded to a replica. REST's token is
    checked here with the rule of ``shiba serve``'s router (``access.Gate``), over the public
    paths of the replicas' APIs (asked of one replica at start)."""
    gate = None
    if settings.auth is not None:
        table: ApiTable = await handle.options(method_name="api_table").remote()
        gate = Gate(settings.auth, table, cors=settings.rest.enable_cors)
    forwarder = Forwarder(handle)
    forwarder.start()

    def add_services(server: grpc.aio.Server) -> None:
        table = forwarder.grpc_handlers()
        streams = v2_stream_handlers(table[V2_SERVICE]["ModelInfer"])
        add_handlers(server, table, streams, deadlines=True)

    try:
        return await serve_ports(
            settings,
            forwarder.rest_app(settings.rest.max_body_bytes, gate, cors=settings.rest.enable_cors),
            add_services,
        )
    finally:
        await forwarder.stop()
