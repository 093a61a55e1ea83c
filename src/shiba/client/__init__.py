"""shiba's Python client: TensorFlow Serving's REST and gRPC APIs, numpy in and numpy out.

    from shiba.client import Client, load_image

    with Client("http://localhost:8501") as client:
        signature = client.signature("ViT")
        image = load_image("digit_7.png", signature.inputs["images"])
        scores = client.predict("ViT", image)["probabilities"]

:class:`Client`/:class:`AsyncClient` speak REST (httpx), :class:`GrpcClient`/:class:`AsyncGrpcClient`
gRPC; all four have ``status``, ``metadata``, ``signature`` and ``predict``, the REST ones also
shiba's own ``models`` and ``labels``. :class:`V2Client`/:class:`AsyncV2Client` speak the Open
Inference Protocol's REST API (``server_ready``, ``model_ready``, ``model_metadata``, ``infer``,
``repository_index``),
:class:`V2GrpcClient`/:class:`AsyncV2GrpcClient` its gRPC service. Errors are :mod:`shiba.client.errors`. The client imports no
ML framework.
"""

from __future__ import annotations

from shiba.client._types import ModelMetadata, ModelRef, SignatureInfo, TensorInfo, VersionStatus
from shiba.client.errors import (
    ClientError,
    ConnectionFailed,
    InvalidArgumentError,
    NotFoundError,
    ServerError,
    TimedOut,
    UnauthenticatedError,
    UnavailableError,
)
from shiba.client.grpc import AsyncGrpcClient, GrpcClient
from shiba.client.image import image_layout, load_image
from shiba.client.rest import AsyncClient, Client
from shiba.client.v2 import AsyncV2Client, V2Client, V2ModelMetadata, V2RepositoryModel, V2Tensor
from shiba.client.v2_grpc import AsyncV2GrpcClient, V2GrpcClient

__all__ = [
    "Client",
    "AsyncClient",
    "GrpcClient",
    "AsyncGrpcClient",
    "V2Client",
    "AsyncV2Client",
    "V2GrpcClient",
    "AsyncV2GrpcClient",
    "V2ModelMetadata",
    "V2RepositoryModel",
    "V2Tensor",
    "ModelMetadata",
    "ModelRef",
    "SignatureInfo",
    "TensorInfo",
    "VersionStatus",
    "ClientError",
    "ServerError",
    "InvalidArgumentError",
    "NotFoundError",
    "UnavailableError",
    "UnauthenticatedError",
    "ConnectionFailed",
    "TimedOut",
    "image_layout",
    "load_image",
]
