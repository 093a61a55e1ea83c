"""Which engine serves each signature of each loaded version, and why: one record the metrics page
and shiba's own REST route both read.

:func:`plan_engine` decides, per version, whether a model goes through the engine choice
(``shiba.core.engine_choice``: a SavedModel verified against TensorFlow, an ONNX model against
onnxruntime, a PyTorch model against torch, OpenVINO the candidate for all) or runs on one engine
for a stated reason (forced by a flag or a model config, OpenVINO not installed, a platform with
no choice).
:class:`ServingEngines` holds the outcome: the composition root wraps each version's loader in
:meth:`ServingEngines.tracked`, which records the :class:`EngineDecision` of every signature after
a successful ``load`` and forgets them at ``unload``, so a version has rows exactly while it is
loaded. Framework-free: engines are names.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shiba.core.engine_choice import EngineChoiceLoader, EngineDecision
from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.core.servable import Servable

__all__ = [
    "ENGINE_SETTINGS",
    "ONNX_ENGINE_SETTINGS",
    "TORCH_ENGINE_SETTINGS",
    "EnginePlan",
    "plan_engine",
    "ServingEngines",
]

#: The values of ``--tensorflow_engine`` and of a model config's ``tensorflow_engine``.
ENGINE_SETTINGS = ("auto", "tensorflow", "openvino")
#: The values of ``--onnx_engine``.
ONNX_ENGINE_SETTINGS = ("auto", "onnxruntime", "openvino")
#: The values of ``--torch_engine``.
TORCH_ENGINE_SETTINGS = ("auto", "torch", "openvino")
# The engine a version may run on instead of its platform's own, once verified.
_CANDIDATE = "openvino"


@dataclass(frozen=True, slots=True)
class _Choice:
    """A platform whose models may run on the candidate: its own engine (the reference) and the
    flag that sets which one runs them."""

    reference: str
    flag: str


_CHOICES: Mapping[str, _Choice] = MappingProxyType(
    {
        "tensorflow": _Choice("tensorflow", "--tensorflow_engine"),
        "onnx": _Choice("onnxruntime", "--onnx_engine"),
        "pytorch": _Choice("torch", "--torch_engine"),
    }
)


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """How one version's signatures get their engine.

    ``fixed`` is the decision for every signature when the version runs on one engine; ``None``
    means the engine choice verifies the candidate against ``reference_engine`` signature by
    signature, and then ``require_candidate`` says whether a numeric signature left on the
    reference fails the load (the ``openvino`` setting) or not (``auto``).
    """

    fixed: EngineDecision | None
    require_candidate: bool = False
    reference_engine: str = "tensorflow"


def plan_engine(
    platform: str | None,
    model_engine: str | None,
    flag_engines: Mapping[str, str],
    candidate_available: bool,
) -> EnginePlan:
    """The plan for a version of ``platform``.

    The setting is, for a SavedModel, ``model_engine`` (a model config's ``tensorflow_engine``)
    when set, else ``flag_engines["tensorflow"]`` (``--tensorflow_engine``); for an ONNX model,
    ``flag_engines["onnx"]`` (``--onnx_engine``: a model config's field does not apply); for a
    PyTorch model, ``flag_engines["pytorch"]`` (``--torch_engine``, likewise). A
    platform missing from ``flag_engines`` is ``auto``. Any other platform runs on its own
    engine. ``openvino`` always goes through the choice, installed or not: without the package
    the load fails with the engine's own message. ``auto`` without it runs on the reference.
    """
    choice = _CHOICES.get(platform or "")
    if platform is None or choice is None:
        name = platform or "unknown"
        return EnginePlan(
            EngineDecision(name, f"{name} models run on {name}"), reference_engine=name
        )
    reference = choice.reference
    model_engine = model_engine if platform == "tensorflow" else None
    setting = model_engine or flag_engines.get(platform) or "auto"
    if setting == reference:
        where = "in the model config" if model_engine else f"by {choice.flag}"
        return EnginePlan(
            EngineDecision(reference, f"engine set to {reference} {where}"),
            reference_engine=reference,
        )
    if setting == _CANDIDATE:
        return EnginePlan(None, require_candidate=True, reference_engine=reference)
    if not candidate_available:
        return EnginePlan(
            EngineDecision(reference, f"{_CANDIDATE} is not installed"),
            reference_engine=reference,
        )
    return EnginePlan(None, reference_engine=reference)


class ServingEngines:
    """ServableId -> {signature name: EngineDecision} for every loaded version.

    Thread-safe: loads and unloads write from the manager's threads while the metrics page and
    the REST route read. Readers get immutable mappings, in the servable's signature order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[ServableId, Mapping[str, EngineDecision]] = {}
        self._platforms: dict[ServableId, str] = {}

    def record(
        self,
        servable_id: ServableId,
        decisions: Mapping[str, EngineDecision],
        platform: str | None = None,
    ) -> Mapping[str, EngineDecision]:
        """Records (or replaces) a version's decisions, and the platform (model format:
        ``tensorflow``, ``onnx``...) it was loaded as when known; returns the stored mapping."""
        stored: Mapping[str, EngineDecision] = MappingProxyType(dict(decisions))
        with self._lock:
            self._by_id[servable_id] = stored
            if platform is not None:
                self._platforms[servable_id] = platform
            else:
                self._platforms.pop(servable_id, None)
        return stored

    def forget(
        self, servable_id: ServableId, recorded: Mapping[str, EngineDecision] | None = None
    ) -> None:
        """Drops a version's decisions; with ``recorded``, only if they are still that mapping
        (what :meth:`record` returned), so a stale unload never drops a newer load's record."""
        with self._lock:
            current = self._by_id.get(servable_id)
            if current is not None and (recorded is None or current is recorded):
                del self._by_id[servable_id]
                self._platforms.pop(servable_id, None)

    def get(self, servable_id: ServableId) -> Mapping[str, EngineDecision] | None:
        """The version's decisions, or ``None`` when it is not loaded."""
        with self._lock:
            return self._by_id.get(servable_id)

    def platform(self, servable_id: ServableId) -> str | None:
        """The platform the version was loaded as, or ``None`` (not loaded, or not recorded)."""
        with self._lock:
            return self._platforms.get(servable_id)

    def snapshot(self) -> dict[ServableId, Mapping[str, EngineDecision]]:
        """Every loaded version's decisions, by ServableId (name, then version)."""
        with self._lock:
            return dict(sorted(self._by_id.items()))

    def tracked(
        self,
        loader: Loader,
        servable_id: ServableId,
        fixed: EngineDecision | None = None,
        *,
        platform: str | None = None,
    ) -> Loader:
        """``loader``, recording here after each successful ``load`` which engine serves each
        signature (and ``platform``, the model format it loads), and forgetting it at ``unload``
        (before the inner unload).

        With ``fixed``, every signature of the loaded servable gets that decision; without it,
        ``loader`` must be an ``EngineChoiceLoader``, whose own decisions are recorded.
        """
        if fixed is None and not isinstance(loader, EngineChoiceLoader):
            raise TypeError("tracked() needs a fixed decision unless it wraps EngineChoiceLoader")
        return _TrackedLoader(loader, servable_id, self, fixed, platform)


class _TrackedLoader:
    """A Loader that keeps :class:`ServingEngines` up to date with the version it loads."""

    def __init__(
        self,
        inner: Loader,
        servable_id: ServableId,
        engines: ServingEngines,
        fixed: EngineDecision | None,
        platform: str | None,
    ) -> None:
        self._inner = inner
        self._platform = platform
        self._id = servable_id
        self._engines = engines
        self._fixed = fixed
        self._recorded: Mapping[str, EngineDecision] | None = None

    def load(self) -> Servable:
        servable = self._inner.load()
        decisions: Mapping[str, EngineDecision]
        if self._fixed is not None:
            decisions = dict.fromkeys(servable.signatures, self._fixed)
        else:
            assert isinstance(self._inner, EngineChoiceLoader)
            decisions = self._inner.decisions
        self._recorded = self._engines.record(self._id, decisions, self._platform)
        return servable

    def unload(self) -> None:
        recorded, self._recorded = self._recorded, None
        if recorded is not None:
            self._engines.forget(self._id, recorded)
        self._inner.unload()
