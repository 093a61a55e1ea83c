"""The Open Inference Protocol's REST documents other than inference: errors, server and model
metadata (the protocol's ``$metadata_server_response`` and ``$metadata_model_response``), and the
answers of the statistics, model_configuration and model_repository extensions, in Triton's JSON.

Tensor metadata lists name, datatype and shape; ``-1`` is a dimension of any size (a tensor of
unknown rank is ``[-1]``). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shiba.core.ids import ServableId
from shiba.core.statistics import Duration, VersionStatistics
from shiba.core.tensors import DType, Signature, TensorSpec

__all__ = [
    "DynamicBatching",
    "encode_error",
    "encode_server_metadata",
    "encode_model_metadata",
    "encode_model_config",
    "config_data_type",
    "model_config_document",
    "encode_statistics",
    "statistics_document",
    "encode_repository_index",
    "tensor_metadata",
]


def encode_error(message: str) -> bytes:
    """``{"error": message}``, the protocol's error body."""
    return orjson.dumps({"error": message})


def encode_server_metadata(name: str, version: str, extensions: Sequence[str]) -> bytes:
    return orjson.dumps({"name": name, "version": version, "extensions": list(extensions)})


def tensor_metadata(tensors: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
    """Each tensor's ``{"name", "datatype", "shape"}``, in the signature's order."""
    return [
        {
            "name": name,
            "datatype": spec.dtype.v2_name or spec.dtype.name,
            "shape": list(spec.shape) if spec.shape is not None else [-1],
        }
        for name, spec in tensors.items()
    ]


def encode_model_metadata(
    name: str, versions: Sequence[int], platform: str, signature: Signature
) -> bytes:
    """A model's metadata: its available ``versions`` (as strings), the ``platform`` that
    loaded it, and the inputs and outputs of the signature v2 requests run."""
    return orjson.dumps(
        {
            "name": name,
            "versions": [str(v) for v in versions],
            "platform": platform,
            "inputs": tensor_metadata(signature.inputs),
            "outputs": tensor_metadata(signature.outputs),
        }
    )


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def statistics_document(
    entries: Sequence[tuple[ServableId, VersionStatistics]],
) -> dict[str, Any]:
    """The statistics extension's answer (Triton's ModelStatisticsResponse in JSON), as a
    document: what the REST route encodes and the gRPC answer is parsed from."""
    return {
        "model_stats": [
            {
                "name": sid.name,
                "version": str(sid.version),
                "last_inference": stats.last_inference,
                "inference_count": stats.inference_count,
                "execution_count": stats.execution_count,
                "inference_stats": {
                    "success": _duration(stats.success),
                    "fail": _duration(stats.fail),
                    "queue": _duration(stats.queue),
                    "compute_input": _duration(stats.compute_input),
                    "compute_infer": _duration(stats.compute_infer),
                    "compute_output": _duration(stats.compute_output),
                    "cache_hit": {"count": 0, "ns": 0},
                    "cache_miss": {"count": 0, "ns": 0},
                },
                "batch_stats": [
                    {
                        "batch_size": size,
                        "compute_input": _duration(batch.compute_input),
                        "compute_infer": _duration(batch.compute_infer),
                        "compute_output": _duration(batch.compute_output),
                    }
                    for size, batch in sorted(stats.batches.items())
                ],
            }
            for sid, stats in entries
        ]
    }


def encode_statistics(entries: Sequence[tuple[ServableId, VersionStatistics]]) -> bytes:
    """The statistics extension's answer (``statistics_document``), encoded."""
    return orjson.dumps(statistics_document(entries))


@dataclass(frozen=True, slots=True)
class DynamicBatching:
    """What a model config says of dynamic batching (``--enable_batching`` with its options)."""

    max_queue_delay_microseconds: int
    preferred_batch_size: tuple[int, ...] = ()


def config_data_type(dtype: DType) -> str:
    """The model configuration's ``DataType`` name of ``dtype``: ``TYPE_`` and its datatype
    (``TYPE_STRING`` for ``BYTES``, as Triton's model_config.proto names it), or
    ``TYPE_INVALID`` (that enum's 0) for a type the protocol has no datatype for (complex
    numbers, quantized types, resources, variants). REST and gRPC answers both take it from here.
    """
    datatype = dtype.v2_name
    if not datatype:
        return "TYPE_INVALID"
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def _config_tensors(tensors: Mapping[str, TensorSpec], batched: bool) -> list[dict[str, Any]]:
    entries = []
    for name, spec in tensors.items():
        shape = list(spec.shape) if spec.shape is not None else [-1]
        if batched and shape:
            shape = shape[1:]
        entries.append({"name": name, "data_type": config_data_type(spec.dtype), "dims": shape})
    return entries


def model_config_document(
    name: str,
    platform: str,
    signature: Signature,
    max_batch_size: int,
    batching: DynamicBatching | None,
) -> dict[str, Any]:
    """The model_configuration extension's answer (Triton's ModelConfig, in protobuf's JSON
    form, which the REST answer is and the gRPC message is parsed from): with
    ``max_batch_size`` > 0, ``dims`` leave out the batch dimension, as Triton's do."""
    batched = max_batch_size > 0
    config: dict[str, Any] = {
        "name": name,
        "platform": platform,
        "max_batch_size": max_batch_size,
        "input": _config_tensors(signature.inputs, batched),
        "output": _config_tensors(signature.outputs, batched),
    }
    if batching is not None:
        config["dynamic_batching"] = {
            "max_queue_delay_microseconds": batching.max_queue_delay_microseconds,
            "preferred_batch_size": list(batching.preferred_batch_size),
        }
    return config


def encode_model_config(
    name: str,
    platform: str,
    signature: Signature,
    max_batch_size: int,
    batching: DynamicBatching | None,
) -> bytes:
    """``model_config_document`` as the REST answer's JSON."""
    return orjson.dumps(model_config_document(name, platform, signature, max_batch_size, batching))


def encode_repository_index(entries: Sequence[Mapping[str, str]]) -> bytes:
    """The model_repository extension's index: ``[{"name", "version", "state", "reason"}]``."""
    return orjson.dumps(list(entries))
