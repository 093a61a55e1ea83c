"""Runs the server: loads the first versions, then serves until SIGINT/SIGTERM.

One process, one event loop (uvloop): the REST front end (uvicorn, httptools) runs on it; models
run on the service's executor or their batchers' threads, never on the loop. Shutdown is one
sequence: stop accepting -> let in-flight requests finish -> stop sources -> unload -> close.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
import uvloop

from shiba.config.settings import ServerSettings
from shiba.core.errors import ShibaError
from shiba.server.compose import Components, compose

__all__ = ["serve", "configure_logging"]

log = logging.getLogger("shiba.server")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
    )


async def _serve(settings: ServerSettings, components: Components) -> bool:
    config = uvicorn.Config(
        components.rest_app,
        host=settings.rest_host,
        port=settings.rest_port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level=settings.log_level.lower(),
        backlog=2048,
        timeout_keep_alive=60,
    )
    rest = uvicorn.Server(config)
    log.info("Exporting HTTP/REST API at: %s:%d", settings.rest_host, settings.rest_port)
    await rest.serve()
    return rest.started


def serve(settings: ServerSettings) -> int:
    """Blocks until the server is told to stop; returns the process's exit code."""
    configure_logging(settings.log_level)
    for warning in settings.warnings:
        log.warning("%s", warning)
    for model in settings.models:
        log.info("Serving model %s from %s", model.name, model.base_path)
    if settings.batching is not None:
        log.info("Batching enabled: %s", settings.batching)
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
