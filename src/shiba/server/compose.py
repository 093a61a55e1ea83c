"""The composition root: settings -> source -> loaders -> manager -> service -> front ends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from shiba.app.routes import AppRoutes
from shiba.batching import BatchingLoader, OnBatch
from shiba.codecs.v2.documents import DynamicBatching
from shiba.config.settings import ServerSettings
from shiba.core.engine_choice import Candidate, EngineChoiceLoader
from shiba.core.engines import ServingEngines, plan_engine
from shiba.core.errors import Code
from shiba.core.ids import ServableId
from shiba.core.labels import ClassLabels
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.source import AspiredVersion, FileSystemSource
from shiba.core.lifecycle.states import ManagerState, ServableState
from shiba.core.loader import Loader
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService
from shiba.core.statistics import Execution, InferenceStatistics
from shiba.core.tensors import Signature
from shiba.core.warmup import WarmupLoader
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Routes
from shiba.protocols.shiba.rest import ShibaRoutes
from shiba.protocols.tfserving.rest import TFServingRoutes
from shiba.protocols.v2.dataplane import DataPlane
from shiba.protocols.v2.rest import V2Routes
from shiba.runtimes import openvino, registry
from shiba.runtimes.base import RuntimeOptions
from shiba.server.heap import HeapFreezer
from shiba.server.reload import ConfigApplier, ConfigFilePoller
from shiba.server.repository import ApplyModels, Repository
from shiba.server.warmup import WARMUP_FILE, warmup_records

__all__ = ["Components", "compose"]

log = logging.getLogger("shiba.server")

#: The OpenVINO candidate builder of each platform ``plan_engine`` may send through the choice.
_CANDIDATE_BUILDERS: Mapping[
    str, Callable[[Path, Mapping[str, Signature], RuntimeOptions], Candidate]
] = MappingProxyType(
    {
        "tensorflow": openvino.build_candidate,
        "onnx": openvino.build_onnx_candidate,
        "pytorch": openvino.build_torch_candidate,
    }
)


@dataclass(slots=True)
class Components:
    """What ``compose`` built; ``close`` takes it down in order. ``metrics`` is None unless
    monitoring is enabled. ``engines`` records which engine serves each loaded signature. ``v2`` is
    the Open Inference Protocol's data plane, which the REST router and the gRPC server share."""

    settings: ServerSettings
    source: FileSystemSource
    manager: Manager
    service: ModelService
    applier: ConfigApplier
    poller: ConfigFilePoller | None
    rest_app: Router
    engines: ServingEngines
    v2: DataPlane
    metrics: Metrics | None = None

    def start(self) -> None:
        """Loads the configured models and waits for those first loads, as TF Serving does.

        Raises ``ShibaError`` when the config cannot be applied (a version label on a version
        that is not available).
        """
        self.source.start()
        self.applier.apply(self.settings.models)
        if self.poller is not None:
            self.poller.start(self.settings.model_config_text)

    def close(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        self.source.stop()
        self.manager.close()
        self.service.close()


def _log_state(state: ServableState) -> None:
    sid = state.id
    if state.state is ManagerState.AVAILABLE:
        log.info("Successfully loaded servable version %s", sid)
    elif state.state is ManagerState.LOADING:
        log.info("Loading servable version %s", sid)
    elif state.state is ManagerState.END and state.error_code is not Code.OK:
        log.error("Servable version %s failed: %s", sid, state.error_message)
    elif state.state is ManagerState.END:
        log.info("Unloaded servable version %s", sid)


def compose(settings: ServerSettings, *, apply_models: ApplyModels | None = None) -> Components:
    """Builds the server's parts (nothing loads until ``Components.start``). ``apply_models``
    applies the model repository's loads and unloads (default: the applier's ``apply``; a Ray
    replica gives one that reaches every replica)."""
    runtime_options = settings.runtime

    batching = settings.batching
    engines = ServingEngines()
    labels = ClassLabels()
    metrics = Metrics(engines) if settings.monitoring.enabled else None
    statistics = InferenceStatistics()

    flag_engines = {
        "tensorflow": settings.tensorflow_engine,
        "onnx": settings.onnx_engine,
        "pytorch": settings.torch_engine,
    }
    openvino_available = openvino.available()

    def make_loader(aspired: AspiredVersion) -> Loader:
        """The loader chain, outermost last: runtime -> engine choice -> engine record -> labels
        -> warm-up -> load metrics -> batching. A SavedModel's engine in the model config
        (``aspired.engine``) wins over ``--tensorflow_engine``; ONNX models follow
        ``--onnx_engine``, PyTorch models ``--torch_engine``. The warm-up file is read once per
        load, inside it, by both its users."""
        platform = aspired.platform or registry.detect_platform(aspired.path)
        loader = registry.make_loader(platform, aspired.id, aspired.path, runtime_options)
        records = warmup_records(aspired.path) if settings.warmup.enabled else None
        plan = plan_engine(platform, aspired.engine, flag_engines, openvino_available)
        # A loader that cannot load (an unknown platform, a missing framework) goes through the
        # same chain: its error passes every wrapper before they do any work.
        if plan.fixed is None:
            build = _CANDIDATE_BUILDERS[str(platform)]
            loader = EngineChoiceLoader(
                loader,
                lambda signatures: build(aspired.path, signatures, runtime_options),
                servable_id=aspired.id,
                require_candidate=plan.require_candidate,
                reference_engine=plan.reference_engine,
                candidate_engine=openvino.ENGINE,
                extra_inputs=records.predict_inputs if records is not None else None,
            )
        loader = engines.tracked(loader, aspired.id, plan.fixed, platform=platform)
        loader = labels.tracked(loader, aspired.id, aspired.path)
        if records is not None:
            loader = WarmupLoader(
                loader,
                records,
                iterations=settings.warmup.iterations,
                path=str(aspired.path / WARMUP_FILE),
            )
        if metrics is not None:
            loader = metrics.timed_loader(loader, str(aspired.path))
        if batching is not None:
            loader = BatchingLoader(
                loader,
                batching,
                name=str(aspired.id),
                on_batch=_batch_observer(aspired.id, statistics, metrics),
            )
        return loader

    manager = Manager(make_loader, settings.manager, listeners=[_log_state, HeapFreezer()])
    source = FileSystemSource(
        (), manager.set_aspired_versions, poll_seconds=settings.file_system_poll_seconds
    )
    applier = ConfigApplier(
        source,
        manager,
        allow_labels_for_unavailable_models=settings.allow_version_labels_for_unavailable_models,
    )
    poller = None
    if settings.model_config_file is not None and settings.model_config_poll_seconds > 0:
        poller = ConfigFilePoller(
            settings.model_config_file, applier, settings.model_config_poll_seconds
        )
    service = ModelService(manager, settings.service, statistics=statistics)
    v2 = _v2_data_plane(
        settings,
        service,
        engines,
        Repository(
            applier, manager, settings.models, settings.model_repository, apply=apply_models
        ),
    )
    routes: list[Routes] = [
        TFServingRoutes(service, settings.rest, metrics=metrics),
        ShibaRoutes(service, engines, labels),
        V2Routes(v2, settings.rest, metrics=metrics),
    ]
    if settings.web_ui:
        routes.append(AppRoutes())
    rest_app = Router(
        routes,
        settings.rest,
        metrics=metrics,
        monitoring=settings.monitoring,
        auth=settings.auth,
    )
    return Components(
        settings, source, manager, service, applier, poller, rest_app, engines, v2, metrics
    )


def _batch_observer(
    servable_id: ServableId, statistics: InferenceStatistics, metrics: Metrics | None
) -> OnBatch:
    """What a version's batcher tells of each batch run: the v2 statistics, and TF Serving's
    batching metrics when monitoring is on."""
    if metrics is None:
        return partial(statistics.record_execution, servable_id)
    record_batch = metrics.record_batch

    def observe(run: Execution) -> None:
        statistics.record_execution(servable_id, run)
        record_batch(run)

    return observe


def _v2_data_plane(
    settings: ServerSettings,
    service: ModelService,
    engines: ServingEngines,
    repository: Repository,
) -> DataPlane:
    """What the Open Inference Protocol's REST routes and gRPC service share; the model config
    they report follows ``--enable_batching`` (one batching setup for every model)."""
    batching = settings.batching
    return DataPlane(
        service,
        engines,
        repository=repository,
        max_batch_size=batching.max_batch_size if batching is not None else 0,
        batching=DynamicBatching(batching.batch_timeout_micros, batching.allowed_batch_sizes)
        if batching is not None
        else None,
    )
