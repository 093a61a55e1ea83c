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

import asyncio
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
import numpy.typing as npt

from shiba import _proto
from shiba.client._rest_core import Inputs
from shiba.client._types import (
    ModelMetadata,
    ModelRef,
    SignatureInfo,
    TensorInfo,
    VersionStatus,
)
from shiba.client.errors import ClientError, TimedOut, server_error
from shiba.codecs import tensor_proto
from shiba.core.errors import Code
from shiba.core.tensors import DEFAULT_SIGNATURE, DType

__all__ = ["GrpcClient", "AsyncGrpcClient", "DEFAULT_TARGET", "predict_request"]

DEFAULT_TARGET = "localhost:8500"
_BACKOFF_SECONDS = 0.1
_STATES = {0: "UNKNOWN", 10: "START", 20: "LOADING", 30: "AVAILABLE", 40: "UNLOADING", 50: "END"}
_METHODS: dict[str, tuple[str, Any]] = {
    "Predict": (_proto.PREDICTION_SERVICE, _proto.PredictResponse),
    "GetModelMetadata": (_proto.PREDICTION_SERVICE, _proto.GetModelMetadataResponse),
    "GetModelStatus": (_proto.MODEL_SERVICE, _proto.GetModelStatusResponse),
}
_GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


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
    given: Mapping[str, npt.ArrayLike]
    if isinstance(inputs, Mapping):
        given = inputs
    elif len(signature.inputs) == 1:
        given = {next(iter(signature.inputs)): inputs}
    else:
        raise ValueError(
            f"signature {signature.name} has {len(signature.inputs)} inputs "
            f"({', '.join(signature.inputs)}); pass a dict of arrays by input name"
        )
    for name, value in given.items():
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


def _code(exc: grpc.RpcError) -> grpc.StatusCode:
    if isinstance(exc, grpc.Call | grpc.aio.AioRpcError):
        return exc.code()
    return grpc.StatusCode.UNKNOWN


def _error(exc: grpc.RpcError, target: str) -> ClientError:
    code = Code(_code(exc).value[0])
    details = exc.details() if isinstance(exc, grpc.Call | grpc.aio.AioRpcError) else str(exc)
    message = details or f"gRPC {code.name} from {target}"
    if code is Code.DEADLINE_EXCEEDED:
        return TimedOut(f"no answer from {target} in time: {message}")
    return server_error(message, code)


def _credentials(tls: bool, root_certificates: bytes | None) -> grpc.ChannelCredentials | None:
    return grpc.ssl_channel_credentials(root_certificates) if tls else None


class _Base:
    def __init__(self, target: str, timeout: float, retries: int, token: str | None) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._signatures: dict[tuple[ModelRef, str], SignatureInfo] = {}


class GrpcClient(_Base):
    """A blocking client of one server's gRPC API; thread-safe (a gRPC channel is)."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        super().__init__(target, timeout, retries, token)
        credentials = _credentials(tls, root_certificates)
        self._channel = (
            grpc.secure_channel(target, credentials, _GRPC_OPTIONS)
            if credentials
            else grpc.insecure_channel(target, _GRPC_OPTIONS)
        )
        self._stubs: dict[str, Callable[..., Any]] = {
            name: self._channel.unary_unary(
                f"/{service}/{name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response.FromString,
            )
            for name, (service, response) in _METHODS.items()
        }

    def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return self._stubs[method](request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                retry = idempotent and attempt < self.retries
                if not retry or _code(exc) is not grpc.StatusCode.UNAVAILABLE:
                    raise _error(exc, self.target) from None
            time.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

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

    def signature(
        self,
        model: str,
        signature: str = DEFAULT_SIGNATURE,
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> SignatureInfo:
        """The signature's inputs and outputs (read once, then kept)."""
        ref = ModelRef(model, version, label)
        if (ref, signature) not in self._signatures:
            info = self.metadata(model, version=version, label=label).signature(signature)
            self._signatures[(ref, signature)] = info
        return self._signatures[(ref, signature)]

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

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncGrpcClient(_Base):
    """The asyncio twin of :class:`GrpcClient` (create it inside the running event loop)."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        super().__init__(target, timeout, retries, token)
        credentials = _credentials(tls, root_certificates)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, _GRPC_OPTIONS)
            if credentials
            else grpc.aio.insecure_channel(target, _GRPC_OPTIONS)
        )
        self._stubs: dict[str, Callable[..., Any]] = {
            name: self._channel.unary_unary(
                f"/{service}/{name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response.FromString,
            )
            for name, (service, response) in _METHODS.items()
        }

    async def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return await self._stubs[method](
                    request, timeout=self.timeout, metadata=self._metadata
                )
            except grpc.RpcError as exc:
                retry = idempotent and attempt < self.retries
                if not retry or _code(exc) is not grpc.StatusCode.UNAVAILABLE:
                    raise _error(exc, self.target) from None
            await asyncio.sleep(_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

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

    async def signature(
        self,
        model: str,
        signature: str = DEFAULT_SIGNATURE,
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> SignatureInfo:
        ref = ModelRef(model, version, label)
        if (ref, signature) not in self._signatures:
            metadata = await self.metadata(model, version=version, label=label)
            self._signatures[(ref, signature)] = metadata.signature(signature)
        return self._signatures[(ref, signature)]

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

    async def aclose(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
