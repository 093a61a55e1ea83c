"""An in-process ``grpc.aio`` server running shiba's TF Serving services, on a thread of its own.

The server's event loop runs on its own thread, as the real server's does, so a test can call it
with ordinary (blocking) ``tensorflow-serving-api`` stubs.
"""

from __future__ import annotations

import asyncio
import threading

import grpc

from shiba.core.service import ModelService
from shiba.protocols.options import GrpcOptions
from shiba.protocols.tfserving.grpc import ReloadConfig, add_tfserving_services, server_arguments

__all__ = ["InProcessServer"]


class InProcessServer:
    """Starts on construction; ``address`` is ``127.0.0.1:port``; ``stop`` ends it."""

    def __init__(
        self,
        service: ModelService,
        options: GrpcOptions | None = None,
        reload_config: ReloadConfig | None = None,
    ) -> None:
        self._service = service
        self._options = options or GrpcOptions()
        self._reload_config = reload_config
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="grpc-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the in-process gRPC server did not start")
        if self._error is not None:
            raise RuntimeError("the in-process gRPC server failed to start") from self._error

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        server = grpc.aio.server(options=server_arguments(self._options))
        add_tfserving_services(
            server, self._service, options=self._options, reload_config=self._reload_config
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await server.stop(grace=None)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)
