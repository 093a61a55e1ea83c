"""The metrics page: recorded cells as prometheus_client metrics, and any metric in the Prometheus
text format 0.0.4 as TF Serving writes it. prometheus_client is imported only when a page is built.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

from shiba.core._metric_families import SIGNATURE_ENGINE, Family, Histogram, Key, LabelValue
from shiba.core.errors import Code

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from shiba.core.engines import ServingEngines

__all__ = ["counter", "histogram", "engine_gauge", "render"]

_V = TypeVar("_V")


def _label(value: LabelValue) -> str:
    return value.name if isinstance(value, Code) else str(value)


def _labels(names: tuple[str, ...], key: Key) -> dict[str, str]:
    return {name: _label(value) for name, value in zip(names, key, strict=True)}


def _sorted(items: list[tuple[Key, _V]]) -> list[tuple[Key, _V]]:
    return sorted(items, key=lambda item: tuple(_label(v) for v in item[0]))


def counter(definition: Family, items: list[tuple[Key, int]]) -> Metric:
    """``definition`` as a counter: one sample per label-value tuple, sorted by label values."""
    from prometheus_client.metrics_core import Metric

    name = definition.name
    family = Metric(name, definition.help, "counter")
    for key, value in _sorted(items):
        # The sample keeps the family's name: TF Serving writes no ``_total`` suffix.
        family.add_sample(name, _labels(definition.labels, key), value)
    return family


def histogram(definition: Histogram, items: list[tuple[Key, list[float]]]) -> Metric:
    """``definition`` as a histogram: cumulative buckets, sum and count per label-value tuple."""
    from prometheus_client.metrics_core import Metric

    name = definition.name
    family = Metric(name, definition.help, "histogram")
    # TF Serving writes a limit with absl::StrCat, which prints a double as %g does.
    bounds = [format(limit, ".6g") for limit in definition.limits] + ["+Inf"]
    for key, cell in _sorted(items):
        labels = _labels(definition.labels, key)
        cumulative = 0
        for bound, count in zip(bounds, cell, strict=False):
            cumulative += int(count)
            family.add_sample(f"{name}_bucket", {**labels, "le": bound}, cumulative)
        family.add_sample(f"{name}_sum", labels, cell[-1])
        family.add_sample(f"{name}_count", labels, cumulative)
    return family


def engine_gauge(engines: ServingEngines) -> Metric:
    """``SIGNATURE_ENGINE``: 1 for each signature of each version in ``engines``."""
    from prometheus_client.metrics_core import Metric

    name = SIGNATURE_ENGINE.name
    family = Metric(name, SIGNATURE_ENGINE.help, "gauge")
    for sid, decisions in engines.snapshot().items():
        runtime = engines.platform(sid) or ""
        for signature, decision in decisions.items():
            key = (sid.name, sid.version, runtime, signature, decision.engine, decision.reason)
            family.add_sample(name, _labels(SIGNATURE_ENGINE.labels, key), 1)
    return family


# prometheus_client's OpenMetrics types as the 0.0.4 text format names them (as generate_latest).
_TYPES = {"unknown": "untyped", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}
# The suffix prometheus_client gives the samples of its own counters and infos (shiba's have none).
_SUFFIXES = {"counter": "_total", "info": "_info"}


def render(family: Metric, lines: list[str]) -> None:
    """Appends ``family`` to ``lines`` in the text format 0.0.4, as TF Serving writes it."""
    name = family.name
    samples = [s for s in family.samples if s.name != f"{name}_created"]
    suffix = _SUFFIXES.get(family.type, "")
    if suffix and any(s.name == name + suffix for s in samples):
        name += suffix  # a prometheus_client metric registered beside shiba's families
    help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines.append(f"# HELP {name} {help_text}\n")
    lines.append(f"# TYPE {name} {_TYPES.get(family.type, family.type)}\n")
    for sample in samples:
        if sample.labels:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            lines.append(f"{sample.name}{{{labels}}} {_number(sample.value)}\n")
        else:
            lines.append(f"{sample.name} {_number(sample.value)}\n")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
