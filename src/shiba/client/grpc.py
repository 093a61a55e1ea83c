"""TensorFlow Serving's gRPC API from Python, numpy in and numpy out: :class:`GrpcClient`
(blocking) and :class:`AsyncGrpcClient` (``grpc.aio``), with shiba's own messages (no TensorFlow).

    with GrpcClient("localhost:8500") as client:
        probabilities = client.predict("ViT", images)["probabilities"]

One channel per client (connections reused), ``timeout`` seconds per call, TLS when ``tls`` (with
``root_certificates`` PEM bytes, or the system's), ``authorization: Bearer <token>`` metadata when
given a token. Status and metadata calls are tried again up to ``retries`` times after
``UNAVAILABLE``; a predict call is never sent twice. Errors are the server's code and details as
:class:`~shiba.client.errors.ServerError` (and :class:`TimedOut` for ``DEADLINE_EXCEEDED``).
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from shiba import _proto
from shiba.client._grpc_shell import DEFAULT_TARGET, AsyncGrpc, SyncGrpc, methods
from shiba.client._rest_core import Inputs, inputs_by_name
from shiba.client._shell import AsyncKeptSignatures, KeptSignatures
from shiba.client._types import (
    ModelMetadata,
    ModelRef,
    SignatureInfo,
    TensorInfo,
    VersionStatus,
)
from shiba.codecs import tensor_proto
from shiba.core.errors import Code
from shiba.core.tensors import DEFAULT_SIGNATURE, DType

__all__ = ["GrpcClient", "AsyncGrpcClient", "DEFAULT_TARGET", "predict_request"]

_STATES = {0: "UNKNOWN", 10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}
_METHODS = {
    **methods(
        _proto.PREDICTION_SERVICE,
        {"Predict": _proto.PredictResponse, "GetModelMetadata": _proto.GetModelMetadataResponse},
    ),
    **methods(_proto.MODEL_SERVICE, {"GetModelStatus": _proto.GetModelStatusResponse}),
}


def _spec(message: Any, model: ModelRef, signature: str | None = None) -> None:
    spec = message.model_spec
    spec.name = model.name
    if model.version is not None:
        spec.version.value = model.version
    elif model.label is not None:
        spec.version_label = model.label
    if signature is not None:
        spec.signature_name = signature


def _metadata_request(model: ModelRef) -> Any:
    request = _proto.GetModelMetadataRequest()
    _spec(request, model)
    request.metadata_field.append("signature_def")
    return request


def _status_request(model: ModelRef) -> Any:
    request = _proto.GetModelStatusRequest()
    _spec(request, model)
    return request


def predict_request(model: ModelRef, signature: SignatureInfo, inputs: Inputs) -> Any:
    """The ``PredictRequest`` for ``inputs`` (cast to the signature's dtypes)."""
    request = _proto.PredictRequest()
    _spec(request, model, signature.name)
    for name, value in inputs_by_name(signature, inputs).items():
        info = signature.inputs.get(name)
        tensor_proto.fill(request.inputs[name], value, info.dtype if info else None)
    return request


def _tensor_info(alias: str, info: Any) -> TensorInfo:
    shape = info.tensor_shape
    dims = None if shape.unknown_rank else tuple(int(d.size) for d in shape.dim)
    return TensorInfo(alias, DType(int(info.dtype)), dims)


def _metadata(response: Any) -> ModelMetadata:
    signatures: dict[str, SignatureInfo] = {}
    packed = response.metadata.get("signature_def")
    if packed is not None:
        definitions = _proto.SignatureDefMap()
        definitions.ParseFromString(packed.value)
        for name, definition in definitions.signature_def.items():
            signatures[name] = SignatureInfo(
                name,
                definition.method_name,
                {k: _tensor_info(k, v) for k, v in definition.inputs.items()},
                {k: _tensor_info(k, v) for k, v in definition.outputs.items()},
            )
    spec = response.model_spec
    return ModelMetadata(spec.name, int(spec.version.value), signatures)


def _status(response: Any) -> list[VersionStatus]:
    return [
        VersionStatus(
            int(entry.version),
            _STATES.get(int(entry.state), str(entry.state)),
            Code(int(entry.status.error_code)).name,
            entry.status.error_message,
        )
        for entry in response.model_version_status
    ]


def _outputs(response: Any) -> dict[str, npt.NDArray[Any]]:
    return {name: tensor_proto.to_numpy(tensor) for name, tensor in response.outputs.items()}


class GrpcClient(SyncGrpc, KeptSignatures):
    """A blocking client of one server's gRPC API; thread-safe (a gRPC channel is)."""

    METHODS = _METHODS

    def status(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Each version's state (``ModelService.GetModelStatus``)."""
        request = _status_request(ModelRef(model, version, label))
        return _status(self._call("GetModelStatus", request, True))

    def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        """The version's signatures (``PredictionService.GetModelMetadata``)."""
        request = _metadata_request(ModelRef(model, version, label))
        return _metadata(self._call("GetModelMetadata", request, True))

    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        """Runs the signature on ``inputs`` (one array, or arrays by alias); every output by alias."""
        info = self.signature(model, signature, version=version, label=label)
        request = predict_request(ModelRef(model, version, label), info, inputs)
        return _outputs(self._call("Predict", request, False))


class AsyncGrpcClient(AsyncGrpc, AsyncKeptSignatures):
    """The asyncio twin of :class:`GrpcClient` (create it inside the running event loop)."""

    METHODS = _METHODS

    async def status(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        request = _status_request(ModelRef(model, version, label))
        return _status(await self._call("GetModelStatus", request, True))

    async def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        request = _metadata_request(ModelRef(model, version, label))
        return _metadata(await self._call("GetModelMetadata", request, True))

    async def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        info = await self.signature(model, signature, version=version, label=label)
        request = predict_request(ModelRef(model, version, label), info, inputs)
        return _outputs(await self._call("Predict", request, False))
