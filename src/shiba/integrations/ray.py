"""shiba on Ray Serve: replicas run the models, one shiba front end serves the public APIs.

``shiba serve --ray [--num_replicas N|auto] [--ray_address ADDR]`` joins a running Ray cluster
(``ray start --head``), deploys :class:`ShibaReplica` as the Ray Serve application ``shiba`` and
serves TensorFlow Serving's REST and gRPC APIs on its own ports, as ``shiba serve`` does::

    client --REST/gRPC--> shiba front end --Ray Serve handle--> ShibaReplica x N (any node)

Each replica composes a whole shiba server without its listeners (``server.compose``): it loads
every configured model from the model repository, polls it for new versions and runs requests on
its own event loop. The front end does no model work: a REST request goes to one replica as
(method, path, query, headers, body) and runs through the replica's own REST application; a gRPC
call goes as (method, serialized request) and runs through TF Serving's gRPC handlers
(``protocols.tfserving.grpc.tfserving_handlers``); so answers, errors and status codes are the
ones ``shiba serve`` gives. Ray picks the replica (its power-of-two-choices router) and, with
``--num_replicas=auto``, scales them.

Guarantees: a replica is routed to only once its first loads are done (``__init__`` returns after
them). A new version reaches every replica because each polls the model folders and, as in one
process, serves the new version before unloading the old one. A request whose replica dies before
answering (the actor is gone) is sent again, up to ``_ATTEMPTS`` times, to a live one; Ray starts a
new replica in its place. ``HandleReloadConfigRequest`` would reach one replica only, so it is
refused: a ``--model_config_file`` polled with ``--model_config_file_poll_wait_seconds`` reaches
every replica.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import grpc
import orjson
import ray
import uvloop
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from shiba import _proto
from shiba.config.settings import ServerSettings
from shiba.core.errors import Code, ShibaError, Unavailable, Unimplemented
from shiba.protocols.http_server import HttpServer
from shiba.protocols.status import http_status
from shiba.protocols.tfserving.grpc import (
    Handler,
    add_handlers,
    server_arguments,
    tfserving_handlers,
)
from shiba.server.compose import Components, compose
from shiba.server.run import configure_logging

__all__ = ["APP_NAME", "RPCS", "ShibaReplica", "serve_on_ray"]

log = logging.getLogger("shiba.ray")

#: The Ray Serve application's name (``serve status``, ``serve.get_app_handle``).
APP_NAME = "shiba"
#: TensorFlow Serving's RPCs the front end forwards (HandleReloadConfigRequest is answered there).
RPCS: dict[str, tuple[str, ...]] = {
    _proto.PREDICTION_SERVICE: (
        "Predict",
        "Classify",
        "Regress",
        "MultiInference",
        "GetModelMetadata",
    ),
    _proto.MODEL_SERVICE: ("GetModelStatus",),
}
#: Requests one replica runs at once; more wait in Ray's router (Ray Serve's default is 5, too few
#: for a server whose batcher wants many requests in flight).
_MAX_ONGOING = 128
#: Times a request is sent before its replica's death is the client's error (503 / UNAVAILABLE).
_ATTEMPTS = 3
_JSON = [(b"content-type", b"application/json")]
_RELOAD_REFUSED = (
    "HandleReloadConfigRequest is not supported with --ray, as it would reach one replica only:"
    " give the models in --model_config_file with --model_config_file_poll_wait_seconds, which"
    " every replica polls"
)

Headers = list[tuple[bytes, bytes]]
RestAnswer = tuple[int, Headers, bytes]
Message = MutableMapping[str, Any]


class ShibaReplica:
    """One Ray Serve replica: shiba's service and front-end logic without listeners.

    ``__init__`` loads the configured models (it returns once the first loads are done, so Ray
    routes nothing to a replica still loading); ``rest`` and ``grpc`` answer one request each;
    Ray Serve calls ``__del__`` when it stops the replica, which unloads everything.
    """

    def __init__(self, settings: ServerSettings) -> None:
        configure_logging(settings.log_level)
        self._components: Components | None = compose(settings)
        self._components.start()
        self._app = self._components.rest_app
        self._rpcs: dict[str, Handler] = {
            f"{service}/{method}": handler
            for service, methods in tfserving_handlers(
                self._components.service,
                options=settings.grpc,
                metrics=self._components.metrics,
            ).items()
            for method, handler in methods.items()
        }

    async def rest(
        self, method: str, path: str, query: bytes, headers: Headers, body: bytes
    ) -> RestAnswer:
        """Runs one HTTP request through shiba's REST application; (status, headers, body)."""
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "headers": headers,
            "server": None,
            "client": None,
        }
        delivered = False
        answer: list[Any] = [500, [], []]

        async def receive() -> Message:
            nonlocal delivered
            if delivered:  # the whole body was given: nothing more comes until the answer
                await asyncio.Future()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0], answer[1] = message["status"], list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                answer[2].append(message.get("body", b""))

        await self._app(scope, receive, send)
        return answer[0], answer[1], b"".join(answer[2])

    async def grpc(self, method: str, request: bytes) -> tuple[int, bytes | str]:
        """Runs one RPC (``"tensorflow.serving.PredictionService/Predict"``) on its serialized
        request: ``(0, response)``, or ``(code, message)`` for the error TF Serving would give."""
        handler = self._rpcs.get(method)
        if handler is None:
            return Code.UNIMPLEMENTED, f"Method not found: {method}"
        try:
            return Code.OK, await handler(request)
        except ShibaError as exc:
            return exc.code, exc.message

    def __del__(self) -> None:
        components, self._components = getattr(self, "_components", None), None
        if components is not None:
            components.close()


class _Forwarder:
    """The front end's side of the hop: sends a call to a replica, again if that replica died."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._rest = handle.options(method_name="rest")
        self._grpc = handle.options(method_name="grpc")

    async def _call(self, target: DeploymentHandle[Any], *args: object) -> Any:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await target.remote(*args)
            except RayActorError as exc:
                log.warning("a replica died before answering (attempt %d): %s", attempt, exc)
                if attempt == _ATTEMPTS:
                    raise Unavailable(
                        f"no shiba replica answered in {_ATTEMPTS} attempts; the last one"
                        f" failed with: {exc}"
                    ) from None
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def rest_app(self, max_body_bytes: int) -> Callable[..., Awaitable[None]]:
        """An ASGI application that answers each request with a replica's answer."""

        async def app(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            if scope["type"] != "http":
                return
            try:
                body = await _read_body(receive, max_body_bytes)
                status, headers, payload = await self._call(
                    self._rest,
                    scope["method"],
                    scope["path"],
                    scope["query_string"],
                    list(scope["headers"]),
                    body,
                )
            except ShibaError as exc:
                status, headers = http_status(exc.code), _JSON
                payload = orjson.dumps({"error": exc.message})
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        return app

    def grpc_handlers(self) -> dict[str, dict[str, Handler]]:
        """``RPCS``, each sent to a replica, and HandleReloadConfigRequest refused."""

        def forward(method: str) -> Handler:
            async def handler(request: bytes) -> bytes:
                code, payload = await self._call(self._grpc, method, request)
                if code != Code.OK:
                    raise ShibaError(str(payload), code=Code(code))
                answer: bytes = payload
                return answer

            return handler

        async def refuse_reload(request: bytes) -> bytes:
            raise Unimplemented(_RELOAD_REFUSED)

        table = {
            service: {name: forward(f"{service}/{name}") for name in names}
            for service, names in RPCS.items()
        }
        table[_proto.MODEL_SERVICE]["HandleReloadConfigRequest"] = refuse_reload
        return table


async def _read_body(receive: Callable[[], Awaitable[Message]], limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ShibaError("Client closed the request", code=Code.CANCELLED)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ShibaError(
                f"Request body is larger than the limit of {limit} bytes",
                code=Code.RESOURCE_EXHAUSTED,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def deploy(settings: ServerSettings) -> DeploymentHandle[Any]:
    """Deploys (or updates) the application ``shiba`` on the connected cluster; returns its handle
    once every replica has loaded its models."""
    options = settings.ray
    if options is None:
        raise ValueError("deploy needs settings with --ray")
    deployment = serve.deployment(
        name="ShibaReplica",
        num_replicas=options.num_replicas if options.num_replicas is not None else "auto",
        max_ongoing_requests=_MAX_ONGOING,
        # Ray's line per request costs more than a small predict; shiba's own logs stay on.
        logging_config={"enable_access_log": False},
    )(ShibaReplica)
    serve.start(proxy_location="Disabled")
    handle: DeploymentHandle[Any] = serve.run(
        deployment.bind(settings), name=APP_NAME, route_prefix=None
    )
    return handle


async def _front_end(settings: ServerSettings, forwarder: _Forwarder) -> bool:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    grpc_server: grpc.aio.Server | None = None
    rest: HttpServer | None = None
    try:
        if settings.grpc_port or settings.grpc_socket_path:
            grpc_server = grpc.aio.server(options=server_arguments(settings.grpc))
            add_handlers(grpc_server, forwarder.grpc_handlers())
            if settings.grpc_port:
                grpc_server.add_insecure_port(f"{settings.rest_host}:{settings.grpc_port}")
            if settings.grpc_socket_path:
                grpc_server.add_insecure_port(f"unix:{settings.grpc_socket_path}")
            await grpc_server.start()
            log.info("Running gRPC ModelServer at %s:%d", settings.rest_host, settings.grpc_port)
        if settings.rest_port:
            app = forwarder.rest_app(settings.rest.max_body_bytes)
            rest = HttpServer(app, settings.rest_host, settings.rest_port)
            try:
                await rest.start()
            except OSError as exc:
                log.error("Cannot serve HTTP/REST at port %d: %s", settings.rest_port, exc)
                return False
            log.info("Exporting HTTP/REST API at: %s:%d", settings.rest_host, settings.rest_port)
        await stop.wait()
        log.info("Shutting down")
        return True
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if rest is not None:
            await rest.stop(10.0)
        if grpc_server is not None:
            await grpc_server.stop(10.0)


def serve_on_ray(settings: ServerSettings) -> int:
    """``shiba serve --ray``: deploys the replicas, serves until SIGINT/SIGTERM, then deletes the
    application (its replicas unload) and leaves the cluster running. Returns the exit code."""
    configure_logging(settings.log_level)
    options = settings.ray
    if options is None:
        raise ValueError("serve_on_ray needs settings with --ray")
    try:
        ray.init(address=options.address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        log.error(
            "Cannot join a Ray cluster at %r: %s. Start one with `ray start --head`, or give its"
            " address with --ray_address=HOST:PORT.",
            options.address,
            exc,
        )
        return 1
    try:
        log.info("Deploying %s replica(s) of shiba on Ray Serve", options.num_replicas or "auto")
        try:
            handle = deploy(settings)
        except Exception as exc:
            log.error("The Ray Serve application %r did not start: %s", APP_NAME, exc)
            return 1
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                started = runner.run(_front_end(settings, _Forwarder(handle)))
        finally:
            serve.delete(APP_NAME)
        return 0 if started else 1
    finally:
        ray.shutdown()
