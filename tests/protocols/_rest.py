"""The REST port's app as ``server/compose.py`` builds it: the router with TF Serving's and
shiba's routes mounted."""

from __future__ import annotations

from shiba.core.engines import ServingEngines
from shiba.core.metrics import Metrics
from shiba.core.service import ModelService
from shiba.protocols.http.router import Router
from shiba.protocols.http.routes import Routes
from shiba.protocols.options import MonitoringOptions, RestOptions
from shiba.protocols.shiba.rest import ShibaRoutes
from shiba.protocols.tfserving.rest import TFServingRoutes


def rest_app(
    service: ModelService,
    options: RestOptions | None = None,
    *,
    metrics: Metrics | None = None,
    monitoring: MonitoringOptions | None = None,
    engines: ServingEngines | None = None,
) -> Router:
    routes: list[Routes] = [TFServingRoutes(service, options, metrics=metrics)]
    if engines is not None:
        routes.append(ShibaRoutes(service, engines))
    return Router(routes, options, metrics=metrics, monitoring=monitoring)
