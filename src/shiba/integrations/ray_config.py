"""Model config changes on Ray Serve: one new model config, applied by every replica.

Two kinds of request change the config: ``HandleReloadConfigRequest``, and the Open Inference
Protocol's model repository load and unload (``server.repository``, whose ``apply`` is the
replica's :meth:`ConfigSync.apply_models`). A request reaches one replica, so that replica does
not apply the config alone: it publishes it on the :class:`ConfigBoard` (a Ray actor the
deploying front end owns) and waits until every live replica has applied it. Each replica's
:class:`ConfigSync` reports to the board every ``_POLL_SECONDS`` (which generation of the config
it has applied, and that application's error) and applies a newer generation on its own thread,
as ``shiba serve`` applies a reload (``ConfigApplier.apply``: new models loaded before the call
returns, a replaced version unloaded only once its successor is AVAILABLE). A replica that stops
reporting for ``_LIVE_SECONDS`` (it died) is no longer waited for; a replica that starts (a
replacement, or autoscaling) applies the board's config before it is routed to. The request
answers once every live replica applied the config, or with the first replica's error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import ray
from google.protobuf import text_format

from shiba._proto import ModelServerConfig
from shiba.config.errors import ConfigError
from shiba.config.model_config import model_config_text, model_configs_from_text
from shiba.core.errors import Code, DeadlineExceeded, InvalidArgument, ShibaError
from shiba.core.lifecycle.source import ModelConfig
from shiba.server.reload import ConfigApplier

__all__ = ["BOARD_NAME", "BOARD_NAMESPACE", "ConfigBoard", "ConfigSync", "create_board"]

log = logging.getLogger("shiba.ray")

BOARD_NAME = "shiba-model-config"
BOARD_NAMESPACE = "shiba"
_POLL_SECONDS = 0.5
#: Long enough for a replica busy loading a model on a loaded machine (its reports can pause for
#: seconds while a framework holds the GIL): taking a live replica for dead would answer a
#: change before that replica applied it.
_LIVE_SECONDS = 30.0
#: The longest a reload waits for every replica (loading new models included).
_RELOAD_TIMEOUT_SECONDS = 600.0

#: A replica's report: the generation it applied, and (code, message) if applying it failed.
Report = tuple[int, tuple[int, str] | None]


class ConfigBoard:
    """The model config's latest generation, and what each replica reported of it."""

    def __init__(self) -> None:
        self._generation = 0
        self._text = ""
        self._reports: dict[str, tuple[Report, float]] = {}

    def poll(self, replica: str, report: Report) -> tuple[int, str]:
        """Records ``replica``'s report; returns the latest (generation, config text)."""
        self._reports[replica] = (report, time.monotonic())
        return self._generation, self._text

    def publish(self, text: str, based_on: int | None = None) -> int:
        """Makes ``text`` the latest generation and returns its number; with ``based_on``, only
        if that is the latest generation now (else nothing changes, and it returns 0)."""
        if based_on is not None and based_on != self._generation:
            return 0
        self._generation += 1
        self._text = text
        return self._generation

    def latest(self) -> int:
        """The latest generation's number (0: nothing published yet)."""
        return self._generation

    def leave(self, replica: str) -> None:
        self._reports.pop(replica, None)

    def outcome(self, generation: int) -> tuple[bool, tuple[int, str] | None]:
        """(every live replica applied ``generation``, the first error applying it)."""
        now = time.monotonic()
        for replica, (_, seen) in list(self._reports.items()):
            if now - seen > _LIVE_SECONDS:
                del self._reports[replica]
        reports = [report for report, _ in self._reports.values()]
        for applied, error in reports:
            if applied == generation and error is not None:
                return True, error
        return all(applied >= generation for applied, _ in reports), None


def create_board() -> Any:
    """The board's actor, owned by the calling process (the front end that deploys)."""
    actor = ray.remote(num_cpus=0)(ConfigBoard)
    return actor.options(name=BOARD_NAME, namespace=BOARD_NAMESPACE, get_if_exists=True).remote()


class ConfigSync:
    """A replica's side of the board: applies each newer generation, and publishes the config
    changes the replica receives (``reload``, and ``apply_models`` for the model repository).

    Made before the replica's parts (``compose`` takes ``apply_models``), started with their
    applier once the start-up config is loaded; raises ValueError if there is no board.
    """

    def __init__(self) -> None:
        self._board = ray.get_actor(BOARD_NAME, namespace=BOARD_NAMESPACE)
        self._id = uuid.uuid4().hex
        self._report: Report = (0, None)
        self._applying = threading.Lock()
        self._stop = threading.Event()

    def start(self, applier: ConfigApplier) -> None:
        """Applies the board's config now (before the replica is routed to), then keeps up."""
        generation: int
        text: str
        generation, text = ray.get(self._board.poll.remote(self._id, self._report), timeout=60)
        if generation:
            self._apply(applier, generation, text)
        threading.Thread(
            target=self._run, args=(applier,), name="shiba-ray-config", daemon=True
        ).start()

    def stop(self) -> None:
        self._stop.set()
        self._board.leave.remote(self._id)

    def _run(self, applier: ConfigApplier) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            generation: int
            text: str
            try:
                generation, text = ray.get(
                    self._board.poll.remote(self._id, self._report), timeout=30
                )
            except Exception as exc:
                log.warning("cannot reach the model config board: %s", exc)
                continue
            if generation > self._report[0] and not self._applying.locked():
                # On its own thread, so that this one keeps reporting while models load.
                threading.Thread(
                    target=self._apply, args=(applier, generation, text), name="shiba-ray-reload"
                ).start()

    def _apply(self, applier: ConfigApplier, generation: int, text: str) -> None:
        """Applies ``generation`` unless this replica already applied it or a newer one (two
        threads of ``_run`` may both start before either holds the lock)."""
        with self._applying:
            if generation <= self._report[0]:
                return
            error: tuple[int, str] | None = None
            try:
                applier.apply(model_configs_from_text(text, "reload request"))
            except ConfigError as exc:
                error = (Code.INVALID_ARGUMENT, str(exc))
            except ShibaError as exc:
                error = (exc.code, exc.message)
            if error is not None:
                log.error("model config generation %d not applied: %s", generation, error[1])
            self._report = (generation, error)

    async def reload(self, config: ModelServerConfig) -> None:
        """``HandleReloadConfigRequest``: publishes ``config``, returns once every live replica
        applied it; raises the first replica's error."""
        text = text_format.MessageToString(config)
        try:
            model_configs_from_text(text, "reload request")
        except ConfigError as exc:
            raise InvalidArgument(str(exc)) from None
        generation: int = await self._board.publish.remote(text)
        deadline = time.monotonic() + _RELOAD_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if _settled(await self._board.outcome.remote(generation)):
                return
            await asyncio.sleep(_POLL_SECONDS / 2)
        raise _timed_out()

    def apply_models(self, models: Sequence[ModelConfig]) -> None:
        """The model repository's ``ApplyModels`` (blocking; it runs off the event loop): every
        live replica serves exactly ``models`` when it returns; raises the first replica's error.

        ``models`` was made from the config this replica applied last, so it is published only
        if that is still the board's latest, and it returns only if it is still the latest once
        every replica applied it (the repository then reads this replica's model states, and
        may put the config back): a change another replica published meanwhile is neither
        overwritten nor reported as this one's, and the call fails with ABORTED (send it again).
        """
        text = model_config_text(models)
        published: Any = ray.get(
            self._board.publish.remote(text, based_on=self._report[0]), timeout=60
        )
        generation = int(published)
        if not generation:
            raise _aborted()
        deadline = time.monotonic() + _RELOAD_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if _settled(ray.get(self._board.outcome.remote(generation), timeout=60)):
                latest: Any = ray.get(self._board.latest.remote(), timeout=60)
                if int(latest) != generation:
                    raise _aborted()
                return
            time.sleep(_POLL_SECONDS / 2)
        raise _timed_out()


def _aborted() -> ShibaError:
    return ShibaError(
        "the model config changed on another replica while this one changed it (a model"
        " repository load or unload, or a config reload, at the same time); send the request"
        " again",
        code=Code.ABORTED,
    )


def _settled(outcome: tuple[bool, tuple[int, str] | None]) -> bool:
    """Whether every live replica applied a generation (``ConfigBoard.outcome``'s answer);
    raises the first replica's error applying it."""
    done, error = outcome
    if error is not None:
        raise ShibaError(error[1], code=Code(error[0]))
    return done


def _timed_out() -> DeadlineExceeded:
    seconds = f"{_RELOAD_TIMEOUT_SECONDS:.0f} s"
    return DeadlineExceeded(f"the new model config was not applied by every replica in {seconds}")
