"""shiba on Ray Serve: replicas run the models, one shiba front end serves the public APIs.

``shiba serve --ray [--num_replicas N|auto] [--ray_address ADDR]`` joins a running Ray cluster
(``ray start --head``), deploys :class:`ShibaReplica` as the Ray Serve application ``shiba`` and
serves shiba's REST and gRPC APIs (TF Serving's and the Open Inference Protocol's) on its own
ports, as ``shiba serve`` does (``ray_front_end``)::

    client --REST/gRPC--> shiba front end --Ray Serve handle, requests in groups--> ShibaReplica x N

Each replica composes a whole shiba server without its listeners (``server.compose``): it loads
every configured model from the model repository, polls it for new versions and runs requests on
its own event loop. The front end does no model work: a REST request goes to one replica as
(method, path, query, headers, body) and runs through the replica's own REST application; a gRPC
call goes as (method, serialized request) and runs through the handlers of TF Serving's services
and of the Open Inference Protocol's ``inference.GRPCInferenceService``
(``protocols.tfserving.grpc.tfserving_handlers``, ``protocols.v2.grpc.v2_handlers``); so answers,
errors and status codes are the ones ``shiba serve`` gives. Ray picks the replica (its
power-of-two-choices router) and, with ``--num_replicas=auto``, scales them.

Guarantees: a replica is routed to only once its first loads are done (``__init__`` returns after
them). A new version reaches every replica because each polls the model folders and, as in one
process, serves the new version before unloading the old one. A request whose replica dies before
answering (the actor is gone) is sent again to a live one (``ray_front_end``); Ray starts a new
replica in its place. ``HandleReloadConfigRequest`` and the model repository's loads and unloads
(``/v2/repository/models/{m}/load``, ``RepositoryModelLoad``) answer once every replica applied the
new config (``ray_config``), and a ``--model_config_file`` polled with
``--model_config_file_poll_wait_seconds`` is polled by every replica.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import orjson
import ray
import uvloop
from ray import serve
from ray.serve.handle import DeploymentHandle
from ray.serve.schema import ApplicationStatus

from shiba.config.settings import RayOptions, ServerSettings
from shiba.core.errors import Code, ShibaError
from shiba.integrations.ray_config import ConfigSync, create_board
from shiba.integrations.ray_front_end import DEADLINE_PASSED, run_front_end
from shiba.protocols._asgi import Message, Scope
from shiba.protocols._grpc_handlers import Handler
from shiba.protocols.http.access import ApiTable
from shiba.protocols.http.routes import JSON
from shiba.protocols.tfserving.grpc import tfserving_handlers
from shiba.protocols.v2.grpc import v2_handlers
from shiba.server.compose import Components, compose
from shiba.server.run import configure_logging

__all__ = [
    "APP_NAME",
    "AUTOSCALING",
    "Call",
    "ShibaReplica",
    "deploy",
    "deployment_options",
    "serve_on_ray",
]

log = logging.getLogger("shiba.ray")

#: The Ray Serve application's name (``serve status``, ``serve.get_app_handle``).
APP_NAME = "shiba"
#: Requests one replica runs at once (each call may carry several); more wait in Ray's router.
_MAX_ONGOING = 16

#: Ray Serve's autoscaling of ``--num_replicas=auto`` (its defaults for ``num_replicas="auto"``,
#: written out): 1 to 100 replicas, each given 2 calls at a time on average (a front end has at most
#: ``ray_front_end._SENDERS`` calls out, each carrying the requests that waited for it).
AUTOSCALING: dict[str, Any] = {"min_replicas": 1, "max_replicas": 100, "target_ongoing_requests": 2}

Headers = list[tuple[bytes, bytes]]
RestAnswer = tuple[int, Headers, bytes]
GrpcAnswer = tuple[int, bytes | str]
#: One request as the front end sends it: ``("rest", (method, path, query, headers, body))`` or
#: ``("grpc", (method, serialized request[, seconds before the call's deadline]))``.
Call = tuple[str, tuple[Any, ...]]


class ShibaReplica:
    """One Ray Serve replica: shiba's service and front-end logic without listeners.

    ``__init__`` loads the configured models (it returns once the first loads are done, so Ray
    routes nothing to a replica still loading); ``rest`` and ``grpc`` answer one request each,
    checking no token (the front end checked it: ``deploy`` gives replicas no
    ``--auth_token_file``);
    Ray Serve calls ``__del__`` when it stops the replica, which unloads everything.
    """

    def __init__(self, settings: ServerSettings, sync_config: bool = False) -> None:
        configure_logging(settings.log_level)
        self._sync: ConfigSync | None = None
        if sync_config:  # on a cluster, with deploy's ConfigBoard: changes reach every replica
            try:
                self._sync = ConfigSync()
            except ValueError as exc:  # no board: the front end that deployed shiba is gone
                log.warning(
                    "HandleReloadConfigRequest is off, and model repository loads and unloads"
                    " reach only the replica that receives them: %s",
                    exc,
                )
        apply_models = self._sync.apply_models if self._sync is not None else None
        self._components: Components | None = compose(settings, apply_models=apply_models)
        self._components.start()
        if self._sync is not None:
            self._sync.start(self._components.applier)
        self._app = self._components.rest_app
        table = tfserving_handlers(
            self._components.service,
            options=settings.grpc,
            reload_config=self._sync.reload if self._sync is not None else None,
            metrics=self._components.metrics,
        )
        table.update(
            v2_handlers(self._components.v2, settings.grpc, metrics=self._components.metrics)
        )
        self._rpcs: dict[str, Handler] = {
            f"{service}/{method}": handler
            for service, methods in table.items()
            for method, handler in methods.items()
        }

    def api_table(self) -> ApiTable:
        """What a front end's token check needs of this replica's REST APIs (each one's public
        paths and 401 body): ``access.Gate``'s table."""
        return self._app.api_table()

    async def rest(
        self, method: str, path: str, query: bytes, headers: Headers, body: bytes
    ) -> RestAnswer:
        """Runs one HTTP request through shiba's REST application; (status, headers, body)."""
        scope: Scope = {
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

    async def grpc(self, method: str, request: bytes, timeout: float | None = None) -> GrpcAnswer:
        """Runs one RPC (``"tensorflow.serving.PredictionService/Predict"``) on its serialized
        request: ``(0, response)``, or ``(code, message)`` for the error TF Serving would give.

        ``timeout``: the seconds left before the call's deadline (the front end's
        ``context.time_remaining()``, None without one). As grpc.aio does to a handler of
        ``shiba serve`` whose deadline passes, the handler is then cancelled and the answer is
        DEADLINE_EXCEEDED; with no time left, the handler does not start."""
        handler = self._rpcs.get(method)
        if handler is None:
            return Code.UNIMPLEMENTED, f"Method not found: {method}"
        if timeout is not None and timeout <= 0:
            return Code.DEADLINE_EXCEEDED, DEADLINE_PASSED
        try:
            async with asyncio.timeout(timeout) as limit:
                return Code.OK, await handler(request)
        except ShibaError as exc:
            return exc.code, exc.message
        except TimeoutError:
            if not limit.expired():
                raise
            return Code.DEADLINE_EXCEEDED, DEADLINE_PASSED

    async def calls(self, batch: list[Call]) -> list[RestAnswer | GrpcAnswer]:
        """Runs several requests at once (what the front end gathered while its earlier calls
        were out), answering each in order; one request's failure is its own answer only."""
        answers = await asyncio.gather(*(self._one(kind, args) for kind, args in batch))
        return list(answers)

    async def _one(self, kind: str, args: tuple[Any, ...]) -> RestAnswer | GrpcAnswer:
        try:
            if kind == "rest":
                return await self.rest(*args)
            return await self.grpc(*args)
        except Exception as exc:
            log.exception("a %s request failed in the replica", kind)
            message = f"Internal error: {exc}"
            if kind == "rest":
                return 500, list(JSON), orjson.dumps({"error": message})
            return Code.INTERNAL, message

    def __del__(self) -> None:
        sync, self._sync = getattr(self, "_sync", None), None
        if sync is not None:
            sync.stop()
        components, self._components = getattr(self, "_components", None), None
        if components is not None:
            components.close()


def deployment_options(options: RayOptions) -> dict[str, Any]:
    """The arguments of ``serve.deployment`` for ``--num_replicas``: that many replicas, or
    (``auto``, ``num_replicas`` None) Ray Serve's autoscaling with ``AUTOSCALING``."""
    scale: dict[str, Any] = (
        {"num_replicas": options.num_replicas}
        if options.num_replicas is not None
        else {"num_replicas": "auto", "autoscaling_config": dict(AUTOSCALING)}
    )
    return {
        "name": "ShibaReplica",
        **scale,
        "max_ongoing_requests": _MAX_ONGOING,
        # Ray's line per request costs more than a small predict; shiba's own logs stay on.
        "logging_config": {"enable_access_log": False},
    }


def deploy(settings: ServerSettings) -> DeploymentHandle[Any]:
    """Deploys (or updates) the application ``shiba`` on the connected cluster; returns its handle
    once every replica has loaded its models."""
    options = settings.ray
    if options is None:
        raise ValueError("deploy needs settings with --ray")
    deployment = serve.deployment(**deployment_options(options))(ShibaReplica)
    serve.start(proxy_location="Disabled")
    handle: DeploymentHandle[Any] = serve.run(
        # The front ends check tokens (each its own --auth_token_file), the replicas none.
        deployment.bind(dataclasses.replace(settings, auth=None), True),
        name=APP_NAME,
        route_prefix=None,
    )
    return handle


def serve_on_ray(settings: ServerSettings) -> int:
    """``shiba serve --ray``: deploys the replicas, serves until SIGINT/SIGTERM, then deletes the
    application (its replicas unload) and leaves the cluster running. Returns the exit code.

    Where the application already runs (another node's front end deployed it), this front end
    forwards to it instead, and leaves it running when it stops: one front end per node."""
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
            str(exc).rstrip("."),
        )
        return 1
    try:
        handle = _running_application()
        deployed = handle is None
        board = None  # the model config board lives as long as this process holds it
        if handle is None:
            if options.num_replicas is None:
                log.info(
                    "Deploying shiba on Ray Serve, autoscaling from %(min_replicas)d to"
                    " %(max_replicas)d replicas for %(target_ongoing_requests)d calls in each",
                    AUTOSCALING,
                )
            else:
                log.info("Deploying %d replica(s) of shiba on Ray Serve", options.num_replicas)
            try:
                board = create_board()
                handle = deploy(settings)
            except Exception as exc:
                log.error("The Ray Serve application %r did not start: %s", APP_NAME, exc)
                return 1
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                started = runner.run(run_front_end(settings, handle))
        finally:
            if deployed:
                serve.delete(APP_NAME)
            del board
        return 0 if started else 1
    finally:
        ray.shutdown()


def _running_application() -> DeploymentHandle[Any] | None:
    """The handle of the application ``shiba`` when another front end runs it, else None."""
    application = serve.status().applications.get(APP_NAME)
    if application is None or application.status != ApplicationStatus.RUNNING:
        return None
    log.warning(
        "The Ray Serve application %r is already running: this front end forwards to its"
        " replicas, and its own model flags are not used (the front end that deployed it"
        " deletes it when it stops)",
        APP_NAME,
    )
    handle: DeploymentHandle[Any] = serve.get_app_handle(APP_NAME)
    return handle
