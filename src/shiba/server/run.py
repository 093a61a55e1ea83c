"""Runs the server: loads the first versions, then serves until SIGINT/SIGTERM.

One process, one event loop (uvloop): the REST front end (``shiba.protocols.http.server`` on
httptools) and the gRPC front end (grpc.aio) run on it; models run on the service's executor or
their batchers' threads, never on the loop. Shutdown is one sequence: stop accepting (both ports at once;
the gRPC health service, when on, turns NOT_SERVING) -> let in-flight requests finish (up to
``_GRACE_SECONDS``) -> stop sources -> unload -> close, and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import grpc
import uvloop

from shiba._proto import ModelServerConfig
from shiba.config.errors import ConfigError
from shiba.config.model_config import model_configs_from_proto
from shiba.config.settings import ServerSettings
from shiba.core.errors import InvalidArgument, ShibaError
from shiba.protocols._asgi import ASGIApp
from shiba.protocols.auth import grpc_auth_interceptor
from shiba.protocols.health import HealthService, add_health_service
from shiba.protocols.http.server import HttpServer
from shiba.protocols.tfserving.grpc import add_tfserving_services, server_arguments
from shiba.protocols.v2.grpc import add_v2_service
from shiba.server.compose import Components, compose

__all__ = ["serve", "serve_ports", "configure_logging", "AddServices"]

log = logging.getLogger("shiba.server")

#: Seconds in-flight gRPC calls and REST requests get to finish once the server is told to stop.
_GRACE_SECONDS = 10.0


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
    )


#: Registers a front end's gRPC services on a server before it starts.
AddServices = Callable[[grpc.aio.Server], None]


class _CannotListen(Exception):
    """A port or socket could not be listened on (already logged)."""


async def _start_grpc(
    settings: ServerSettings, add_services: AddServices
) -> tuple[grpc.aio.Server | None, HealthService | None]:
    """The started gRPC server and its health service (None when off); ``_CannotListen`` when
    an address cannot be bound (grpc raises a bare RuntimeError for that)."""
    if not settings.grpc_port and not settings.grpc_socket_path:
        return None, None
    server = grpc.aio.server(
        interceptors=[grpc_auth_interceptor(settings.auth)] if settings.auth is not None else None,
        options=server_arguments(settings.grpc),
        maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
    )
    add_services(server)
    health = add_health_service(server) if settings.grpc_health else None
    # As TF Serving: with --ssl_config_file, the port and the socket both take its credentials.
    credentials = settings.tls.grpc_credentials if settings.tls is not None else None
    secure = " (TLS)" if credentials is not None else ""
    for address in (
        f"{settings.rest_host}:{settings.grpc_port}" if settings.grpc_port else "",
        f"unix:{settings.grpc_socket_path}" if settings.grpc_socket_path else "",
    ):
        if not address:
            continue
        try:
            if credentials is not None:
                server.add_secure_port(address, credentials)
            else:
                server.add_insecure_port(address)
        except RuntimeError as exc:
            log.error("Cannot serve gRPC at %s: %s", address, exc)
            raise _CannotListen from None
        log.info("Running gRPC ModelServer at %s%s", address, secure)
    await server.start()
    if health is not None:
        await health.serving()
    return server, health


async def serve_ports(
    settings: ServerSettings, rest_app: ASGIApp, add_services: AddServices
) -> bool:
    """Serves ``rest_app`` on the REST port and the services ``add_services`` registers on the
    gRPC port and socket, with the settings' TLS, token auth and health service, until SIGINT or
    SIGTERM; False (logged) if a port or socket cannot be listened on. The one listener set-up
    of every front end: ``shiba serve``'s and the Ray front end's
    (``shiba.integrations.ray_front_end``).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    grpc_server: grpc.aio.Server | None = None
    health: HealthService | None = None
    rest: HttpServer | None = None
    try:
        try:
            grpc_server, health = await _start_grpc(settings, add_services)
        except _CannotListen:
            return False
        if settings.rest_port:
            context = settings.tls.ssl_context if settings.tls is not None else None
            rest = HttpServer(rest_app, settings.rest_host, settings.rest_port, ssl_context=context)
            try:
                await rest.start()
            except OSError as exc:
                log.error(
                    "Cannot serve HTTP/REST at %s:%d: %s",
                    settings.rest_host,
                    settings.rest_port,
                    exc,
                )
                return False
            log.info(
                "Exporting HTTP/REST API at: %s:%d%s",
                settings.rest_host,
                settings.rest_port,
                " (HTTPS)" if context is not None else "",
            )
        await stop.wait()
        log.info("Shutting down")
        return True
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        # Both ports stop accepting at once, then in-flight calls get the grace period together.
        if health is not None:
            await health.shutting_down()
        stopping = []
        if rest is not None:
            stopping.append(rest.stop(_GRACE_SECONDS))
        if grpc_server is not None:
            stopping.append(grpc_server.stop(_GRACE_SECONDS))
        await asyncio.gather(*stopping)


async def _serve(settings: ServerSettings, components: Components) -> bool:
    async def reload_config(config: ModelServerConfig) -> None:
        try:
            models = model_configs_from_proto(config)
        except ConfigError as exc:
            raise InvalidArgument(str(exc)) from None
        await asyncio.to_thread(components.applier.apply, models)

    def add_services(server: grpc.aio.Server) -> None:
        add_tfserving_services(
            server,
            components.service,
            options=settings.grpc,
            reload_config=reload_config,
            metrics=components.metrics,
        )
        add_v2_service(server, components.v2, settings.grpc, metrics=components.metrics)

    return await serve_ports(settings, components.rest_app, add_services)


def serve(settings: ServerSettings) -> int:
    """Blocks until the server is told to stop; returns the process's exit code."""
    configure_logging(settings.log_level)
    for warning in settings.warnings:
        log.warning("%s", warning)
    for model in settings.models:
        log.info("Serving model %s from %s", model.name, model.base_path)
    if settings.batching is not None:
        log.info("Batching enabled: %s", settings.batching)
    if settings.monitoring.enabled and settings.rest_port:
        log.info("Exporting Prometheus metrics at: %s", settings.monitoring.path)
    components = compose(settings)
    try:
        try:
            components.start()
        except ShibaError as exc:
            log.error("the model config cannot be applied: %s", exc.message)
            return 1
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            started = runner.run(_serve(settings, components))
        return 0 if started else 1
    finally:
        components.close()
