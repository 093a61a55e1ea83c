"""TensorFlow Serving's gRPC API on ``grpc.aio``: ``PredictionService`` and ``ModelService``.

RPCs (tensorflow_serving/apis/prediction_service.proto, model_service.proto)::

    tensorflow.serving.PredictionService/Predict            ModelService.predict
    tensorflow.serving.PredictionService/Classify           ModelService.classify
    tensorflow.serving.PredictionService/Regress            ModelService.regress
    tensorflow.serving.PredictionService/MultiInference     ModelService.multi_inference
    tensorflow.serving.PredictionService/GetModelMetadata   the version's signatures
    tensorflow.serving.ModelService/GetModelStatus          ModelService.status
    tensorflow.serving.ModelService/HandleReloadConfigRequest   the ``reload_config`` callback

Each handler parses, calls the service and encodes, with the checks and wording of TF Serving's
handlers (prediction_service_impl.cc, model_service_impl.cc and the servables/tensorflow/*.cc they
call). Handlers take and return raw bytes: requests larger than ``GrpcOptions.inline_decode_bytes``
are parsed and decoded on a worker thread, and large answers serialized there, so that the event
loop (shared with the REST server) never stalls. A :class:`~shiba.core.errors.ShibaError` becomes
the RPC's status (``protocols.status``); anything else is logged and answered INTERNAL. With
metrics, Predict, Classify and Regress are counted and timed as prediction_service_impl.cc does
(entrypoint "GRPC"), from after the request is parsed until the answer is ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from time import perf_counter_ns
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from shiba import _proto
from shiba._proto import ModelServerConfig
from shiba.codecs.tensor_proto import fill
from shiba.codecs.tfs_proto import decode_inputs, inference_tasks, input_examples
from shiba.core.errors import InvalidArgument, Unimplemented
from shiba.core.ids import ModelSpec
from shiba.core.lifecycle.harness import Handle
from shiba.core.lifecycle.states import ManagerState
from shiba.core.metrics import Metrics
from shiba.core.service import Classifications, ModelService
from shiba.core.tensors import CLASSIFY_METHOD, DEFAULT_SIGNATURE, Signature, TensorSpec
from shiba.protocols._grpc_handlers import Handler, add_handlers
from shiba.protocols.options import GrpcOptions

__all__ = [
    "ReloadConfig",
    "add_tfserving_services",
    "server_arguments",
    "tfserving_handlers",
]

#: Applies a new ``ModelServerConfig`` (a ``model_config_list``); raises ``ShibaError`` to refuse it.
ReloadConfig = Callable[[ModelServerConfig], Awaitable[None]]

_T = TypeVar("_T")

# ModelVersionStatus.State numbers (get_model_status.proto).
_STATES: dict[ManagerState, int] = {
    ManagerState.START: 10,
    ManagerState.LOADING: 20,
    ManagerState.AVAILABLE: 30,
    ManagerState.UNLOADING: 40,
    ManagerState.END: 50,
}
_SIGNATURE_DEF = "signature_def"  # GetModelMetadataImpl::kSignatureDef
_UNTIMED = nullcontext()


def server_arguments(options: GrpcOptions) -> list[tuple[str, int | str]]:
    """The ``options`` to pass to ``grpc.aio.server`` for TF Serving's server settings.

    Message size limits as ``builder.SetMaxMessageSize`` in server.cc, then the channel arguments,
    which replace a default of the same key (``grpc.max_receive_message_length=4096`` makes a
    larger request RESOURCE_EXHAUSTED).
    ``SO_REUSEPORT`` is off, so that a port already in use fails the start instead of being shared.
    """
    arguments: dict[str, int | str] = {
        "grpc.max_receive_message_length": options.max_message_bytes,
        "grpc.max_send_message_length": options.max_message_bytes,
        "grpc.so_reuseport": 0,
    }
    # A channel argument given by the user wins over the default of the same key (gRPC would
    # take the first of two).
    arguments.update(options.channel_arguments)
    return list(arguments.items())


def add_tfserving_services(
    server: grpc.aio.Server,
    service: ModelService,
    *,
    options: GrpcOptions | None = None,
    reload_config: ReloadConfig | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Registers ``PredictionService`` and ``ModelService`` on ``server`` (before it starts).

    ``reload_config`` receives HandleReloadConfigRequest's config once it is known to hold a
    ``model_config_list``; without it that RPC answers UNIMPLEMENTED. With ``metrics``, each
    Predict, Classify and Regress call is recorded there (``Metrics.time_request``). The handlers
    hold no state but ``service``, the options, the callback and ``metrics``; they run on the
    server's event loop.
    """
    add_handlers(
        server,
        tfserving_handlers(service, options=options, reload_config=reload_config, metrics=metrics),
    )


def tfserving_handlers(
    service: ModelService,
    *,
    options: GrpcOptions | None = None,
    reload_config: ReloadConfig | None = None,
    metrics: Metrics | None = None,
) -> dict[str, dict[str, Handler]]:
    """TensorFlow Serving's RPCs as plain coroutines, by service then method name.

    Each takes a serialized request and returns the serialized response, or raises
    ``ShibaError``: what ``add_tfserving_services`` registers, and what a process without a gRPC
    server of its own (a Ray Serve replica, ``shiba.integrations.ray``) calls directly.
    """
    servicer = _Servicer(service, options or GrpcOptions(), reload_config, metrics)
    return {
        _proto.PREDICTION_SERVICE: {
            "Predict": servicer.predict,
            "Classify": servicer.classify,
            "Regress": servicer.regress,
            "MultiInference": servicer.multi_inference,
            "GetModelMetadata": servicer.get_model_metadata,
        },
        _proto.MODEL_SERVICE: {
            "GetModelStatus": servicer.get_model_status,
            "HandleReloadConfigRequest": servicer.handle_reload_config_request,
        },
    }


def _parse(cls: type[_T], data: bytes) -> _T:
    try:
        message: _T = cls.FromString(data)  # type: ignore[attr-defined]
    except DecodeError as exc:
        name = _proto.wire_name(cls.DESCRIPTOR.full_name)  # type: ignore[attr-defined]
        detail = _proto.official_names(str(exc))
        raise InvalidArgument(f"Could not parse the request as {name}: {detail}") from None
    return message


def _model_spec(proto: _proto.ModelSpec) -> ModelSpec:
    """What ``proto`` addresses, as ServerCore::ServableRequestFromModelSpec reads it."""
    if not proto.name:
        raise InvalidArgument("ModelSpec has no name specified.")
    choice = proto.WhichOneof("version_choice")
    return ModelSpec(
        proto.name,
        version=proto.version.value if choice == "version" else None,
        label=proto.version_label if choice == "version_label" else None,
        signature_name=proto.signature_name,
    )


def _check_model_spec(request: Any) -> None:
    if not request.HasField("model_spec"):
        raise InvalidArgument("Missing ModelSpec")


def _require_model_spec(request: Any) -> ModelSpec:
    _check_model_spec(request)
    return _model_spec(request.model_spec)


def _answer_spec(out: _proto.ModelSpec, name: str, signature_name: str, version: int) -> None:
    """util.cc's MakeModelSpec: the name, the resolved signature name, the version."""
    out.name = name
    out.signature_name = signature_name or DEFAULT_SIGNATURE
    out.version.value = version


def _parse_predict(
    data: bytes,
) -> tuple[_proto.PredictRequest, dict[str, npt.NDArray[Any]] | InvalidArgument]:
    """The request and its decoded inputs, or the decoding error to raise after the model checks."""
    request = _parse(_proto.PredictRequest, data)
    try:
        return request, decode_inputs(request.inputs)
    except InvalidArgument as exc:
        return request, exc


def _fill_shape(out: _proto.TensorShapeProto, shape: tuple[int, ...] | None) -> None:
    if shape is None:
        out.unknown_rank = True
        return
    for size in shape:
        out.dim.add(size=size)


def _fill_tensor_info(out: _proto.TensorInfo, spec: TensorSpec) -> None:
    out.name = spec.tensor_name
    out.dtype = int(spec.dtype)
    out.tensor_shape.SetInParent()
    _fill_shape(out.tensor_shape, spec.shape)


def _fill_signature_def(out: _proto.SignatureDef, signature: Signature) -> None:
    for alias, spec in signature.inputs.items():
        _fill_tensor_info(out.inputs[alias], spec)
    for alias, spec in signature.outputs.items():
        _fill_tensor_info(out.outputs[alias], spec)
    out.method_name = signature.method_name
    for name, value in signature.defaults.items():
        fill(out.defaults[name], np.asarray(value), as_content=False)


def _fill_classifications(out: _proto.ClassificationResult, rows: Classifications) -> None:
    for row in rows:
        classes = out.classifications.add().classes
        for label, score in row:
            classes.add(label=label, score=score)


def _fill_regressions(out: _proto.RegressionResult, values: Sequence[float]) -> None:
    regressions = out.regressions
    for value in values:
        regressions.add(value=value)


class _Servicer:
    """The RPC handlers: bytes in, bytes out, errors raised as ``ShibaError``."""

    def __init__(
        self,
        service: ModelService,
        options: GrpcOptions,
        reload_config: ReloadConfig | None,
        metrics: Metrics | None,
    ) -> None:
        self._service = service
        self._options = options
        self._reload_config = reload_config
        self._metrics = metrics

    def _timed(self, api: str, request: Any) -> AbstractContextManager[object]:
        """Records the enclosed call as ``api`` of the model ``request`` names (if metrics)."""
        if self._metrics is None:
            return _UNTIMED
        return self._metrics.time_request(request.model_spec.name, api, "GRPC")

    async def _offload(self, size: int, function: Callable[..., _T], *args: Any) -> _T:
        """Runs ``function`` here when ``size`` is small, else on a worker thread."""
        if size <= self._options.inline_decode_bytes:
            return function(*args)
        return await asyncio.to_thread(function, *args)

    # -- PredictionService ---------------------------------------------------------------------

    async def predict(self, data: bytes) -> bytes:
        received = perf_counter_ns()
        request, decoded = await self._offload(len(data), _parse_predict, data)
        with self._timed("Predict", request):
            spec = _require_model_spec(request)
            service = self._service
            with service.acquire(spec) as handle:
                try:
                    # predict_util.cc's order: the signature, the inputs' values, then the run.
                    name, _ = service.signature(handle, spec.signature_name)
                    if isinstance(decoded, InvalidArgument):
                        raise decoded
                    decoded_at = perf_counter_ns()
                    outputs = await service.predict(
                        handle, name, decoded, list(request.output_filter) or None
                    )
                    ran = perf_counter_ns()
                    response = _proto.PredictResponse()
                    _answer_spec(response.model_spec, spec.name, name, handle.id.version)
                    size = sum(array.nbytes for array in outputs.values())
                    answer = await self._offload(size, self._encode_outputs, response, outputs)
                except BaseException:
                    service.statistics.failed(handle.id, received)
                    raise
                service.statistics.answered(handle.id, received, decoded_at, ran)
                return answer

    def _encode_outputs(
        self, response: _proto.PredictResponse, outputs: Mapping[str, npt.NDArray[Any]]
    ) -> bytes:
        as_content = self._options.tensor_content_outputs
        for alias, array in outputs.items():
            fill(response.outputs[alias], array, as_content=as_content)
        return response.SerializeToString()

    async def classify(self, data: bytes) -> bytes:
        return await self._examples_rpc(
            data,
            api="Classify",
            request_type=_proto.ClassificationRequest,
            response_type=_proto.ClassificationResponse,
            run=self._service.classify,
            fill=_fill_classifications,
        )

    async def regress(self, data: bytes) -> bytes:
        return await self._examples_rpc(
            data,
            api="Regress",
            request_type=_proto.RegressionRequest,
            response_type=_proto.RegressionResponse,
            run=self._service.regress,
            fill=_fill_regressions,
        )

    async def _examples_rpc(
        self,
        data: bytes,
        *,
        api: str,
        request_type: type[Any],
        response_type: type[Any],
        run: Callable[[Handle, str, list[bytes]], Awaitable[_T]],
        fill: Callable[[Any, _T], None],
    ) -> bytes:
        """Classify or Regress: tf.Example inputs in, the service's answer ``fill``-ed out."""
        received = perf_counter_ns()
        request = await self._offload(len(data), _parse, request_type, data)
        with self._timed(api, request):
            spec = _require_model_spec(request)
            service = self._service
            with service.acquire(spec) as handle:
                try:
                    examples = input_examples(request.input)
                    decoded = perf_counter_ns()
                    answer = await run(handle, spec.signature_name, examples)
                    ran = perf_counter_ns()
                    response = response_type()
                    _answer_spec(
                        response.model_spec, spec.name, spec.signature_name, handle.id.version
                    )
                    fill(response.result, answer)
                    serialized: bytes = response.SerializeToString()
                except BaseException:
                    service.statistics.failed(handle.id, received)
                    raise
                service.statistics.answered(handle.id, received, decoded, ran)
            return serialized

    async def multi_inference(self, data: bytes) -> bytes:
        received = perf_counter_ns()
        request = await self._offload(len(data), _parse, _proto.MultiInferenceRequest, data)
        tasks = request.tasks
        # multi_inference_helper.cc: the first task's ModelSpec picks the version for all.
        first = tasks[0].model_spec if len(tasks) else _proto.ModelSpec()
        service = self._service
        with service.acquire(_model_spec(first)) as handle:
            try:
                planned = inference_tasks(request)
                examples = input_examples(request.input)
                decoded = perf_counter_ns()
                results = await service.multi_inference(handle, planned, examples)
                ran = perf_counter_ns()
                response = _proto.MultiInferenceResponse()
                for task, result in zip(tasks, results, strict=True):
                    out = response.results.add()
                    _answer_spec(
                        out.model_spec,
                        task.model_spec.name,
                        result.signature_name,
                        handle.id.version,
                    )
                    if task.method_name == CLASSIFY_METHOD:
                        _fill_classifications(
                            out.classification_result, result.classifications or []
                        )
                    else:
                        _fill_regressions(out.regression_result, result.regressions or [])
                answer = response.SerializeToString()
            except BaseException:
                service.statistics.failed(handle.id, received)
                raise
            service.statistics.answered(handle.id, received, decoded, ran)
        return answer

    async def get_model_metadata(self, data: bytes) -> bytes:
        request = _parse(_proto.GetModelMetadataRequest, data)
        _check_model_spec(request)
        # get_model_metadata_impl.cc checks the fields before it looks the model up.
        if not request.metadata_field:
            raise InvalidArgument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != _SIGNATURE_DEF:
                raise InvalidArgument(f"Metadata field {field} is not supported")
        with self._service.acquire(_model_spec(request.model_spec)) as handle:
            signature_defs = _proto.SignatureDefMap()
            for key, signature in handle.servable.signatures.items():
                _fill_signature_def(signature_defs.signature_def[key], signature)
            response = _proto.GetModelMetadataResponse()
            # SavedModelGetSignatureDef names the version that answered and no signature.
            response.model_spec.name = handle.id.name
            response.model_spec.version.value = handle.id.version
        _proto.pack(response.metadata[_SIGNATURE_DEF], signature_defs)
        return response.SerializeToString()

    # -- ModelService --------------------------------------------------------------------------

    async def get_model_status(self, data: bytes) -> bytes:
        request = _parse(_proto.GetModelStatusRequest, data)
        _check_model_spec(request)
        spec = request.model_spec
        # get_model_status_impl.cc reads only the version; a version_label is not looked at.
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        response = _proto.GetModelStatusResponse()
        for state in self._service.status(spec.name, version):
            entry = response.model_version_status.add(
                version=state.id.version, state=_STATES[state.state]
            )
            entry.status.SetInParent()
            entry.status.error_code = int(state.error_code)
            entry.status.error_message = state.error_message
        return response.SerializeToString()

    async def handle_reload_config_request(self, data: bytes) -> bytes:
        if self._reload_config is None:
            raise Unimplemented(
                "HandleReloadConfigRequest is not available: this server does not reload its"
                " model config at run time"
            )
        request = await self._offload(len(data), _parse, _proto.ReloadConfigRequest, data)
        if request.config.WhichOneof("config") != "model_config_list":
            raise InvalidArgument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest."
                " Only ModelConfigList is currently supported"
            )
        # model_service_impl.cc also puts a failure in the response's status, but gRPC sends no
        # response with an error status: the client sees the RPC's status alone, as here.
        await self._reload_config(request.config)
        response = _proto.ReloadConfigResponse()
        response.status.SetInParent()
        for name in request.metric_names:
            # shiba keeps none of TensorFlow's monitoring metrics; TF Serving answers 0 for a
            # metric it does not find.
            response.metric.add(name=name, int64_value_increase=0)
        return response.SerializeToString()
