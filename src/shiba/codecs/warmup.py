"""A SavedModel's warm-up file (``assets.extra/tf_serving_warmup_requests``) to warm-up records.

Bytes in, :data:`~shiba.core.warmup.WarmupRecord` values out; no I/O. The file is a TFRecord file
(tensorflow/core/lib/io/record_writer.cc): each record is its data's length (uint64,
little-endian), the masked CRC-32C of those 8 bytes (uint32), the data, and the masked CRC-32C of
the data. Each record's data is a serialized ``tensorflow.serving.PredictionLog``, read as
saved_model_warmup.cc reads it:

- ``predict_log``, ``classify_log``, ``regress_log`` and ``multi_inference_log`` give a record of
  their request (inputs decoded, serialized examples merged with their context);
- a log with no request type set is skipped, as TF Serving skips it;
- ``session_run_log`` and ``predict_streamed_log`` are UNIMPLEMENTED, as in TF Serving.

Errors, with TF Serving's words first and then which record and file: a broken frame is
:class:`~shiba.core.errors.DataLoss` (``truncated record at <offset>``, ``corrupted record at
<offset>``), more than :data:`~shiba.core.warmup.MAX_RECORDS` records or bytes that are not a
``PredictionLog`` are ``InvalidArgument``, and a request that cannot be decoded is
``InvalidArgument`` with the gRPC API's wording. Records are numbered from 0.
"""

from __future__ import annotations

import struct

from google.protobuf.message import DecodeError

from shiba import _proto
from shiba.codecs._crc32c import masked_crc32c
from shiba.codecs.tfs_proto import decode_inputs, inference_tasks, input_examples
from shiba.core.errors import DataLoss, InvalidArgument, ShibaError, Unimplemented
from shiba.core.tensors import CLASSIFY_METHOD, REGRESS_METHOD
from shiba.core.warmup import (
    MAX_RECORDS,
    ExamplesRecord,
    MultiInferenceRecord,
    PredictRecord,
    WarmupRecord,
    failed_message,
)

__all__ = ["read_tfrecords", "parse_warmup_records"]

_HEADER = struct.Struct("<QI")  # length, masked CRC-32C of the length
_FOOTER = struct.Struct("<I")  # masked CRC-32C of the data
_NOT_TFRECORD = ". Please verify your warmup data is in TFRecord format."
_REPLAYED = "predict_log, classify_log, regress_log or multi_inference_log"
#: The logs whose requests carry tf.Examples, and the method each one calls.
_EXAMPLES_METHODS = {"classify_log": CLASSIFY_METHOD, "regress_log": REGRESS_METHOD}


def _frame_error(problem: str, offset: int, index: int, source: str, detail: str) -> DataLoss:
    return DataLoss(
        f"{problem} record at {offset} (record {index} of {source}: {detail}){_NOT_TFRECORD}"
    )


def read_tfrecords(data: bytes, *, source: str = "the warm-up file") -> list[bytes]:
    """The records of a TFRecord file, each checked against its two checksums.

    Raises ``DataLoss`` for a truncated or corrupted record and ``InvalidArgument`` past
    ``MAX_RECORDS`` records; ``source`` names the file in messages.
    """
    records: list[bytes] = []
    offset = 0
    end = len(data)
    while offset < end:
        index = len(records)
        if index == MAX_RECORDS:
            raise InvalidArgument(
                f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {source}"
            )
        if end - offset < _HEADER.size:
            raise _frame_error(
                "truncated", offset, index, source, f"{end - offset} bytes left, a header has 12"
            )
        length, length_crc = _HEADER.unpack_from(data, offset)
        if masked_crc32c(data[offset : offset + 8]) != length_crc:
            raise _frame_error(
                "corrupted", offset, index, source, "the length does not match its checksum"
            )
        start = offset + _HEADER.size
        if end - start < length + _FOOTER.size:
            raise _frame_error(
                "truncated",
                start,
                index,
                source,
                f"{length} bytes of data and their checksum expected, {end - start} left",
            )
        payload = data[start : start + length]
        (data_crc,) = _FOOTER.unpack_from(data, start + length)
        if masked_crc32c(payload) != data_crc:
            raise _frame_error(
                "corrupted", start, index, source, "the data does not match its checksum"
            )
        records.append(payload)
        offset = start + length + _FOOTER.size
    return records


def parse_warmup_records(data: bytes, *, source: str = "the warm-up file") -> list[WarmupRecord]:
    """The warm-up records of a warm-up file's bytes, in file order (skipped logs left out).

    ``source`` (the file's path) names the file in error messages.
    """
    records: list[WarmupRecord] = []
    for index, payload in enumerate(read_tfrecords(data, source=source)):
        record = _record(payload, index, source)
        if record is not None:
            records.append(record)
    return records


def _record(payload: bytes, index: int, source: str) -> WarmupRecord | None:
    try:
        log = _proto.PredictionLog.FromString(payload)
    except DecodeError as err:
        raise InvalidArgument(
            f"Failed to parse warmup record {index} from {source}: not a serialized "
            f"tensorflow.serving.PredictionLog ({_proto.official_names(str(err))})"
        ) from None
    kind = log.WhichOneof("log_type")
    try:
        if kind == "predict_log":
            predict = log.predict_log.request
            return PredictRecord(
                predict.model_spec.signature_name,
                decode_inputs(predict.inputs),
                tuple(predict.output_filter),
            )
        if kind in _EXAMPLES_METHODS:
            request = getattr(log, kind).request
            examples = tuple(input_examples(request.input))
            return ExamplesRecord(
                _EXAMPLES_METHODS[kind], request.model_spec.signature_name, examples
            )
        if kind == "multi_inference_log":
            multi = log.multi_inference_log.request
            tasks = tuple(inference_tasks(multi))
            return MultiInferenceRecord(tasks, tuple(input_examples(multi.input)))
    except ShibaError as err:
        raise type(err)(failed_message(index, source, err.message), code=err.code) from None
    if kind is None:
        return None
    number = log.DESCRIPTOR.fields_by_name[kind].number
    raise Unimplemented(
        f"Unsupported log_type for warmup: {number} (record {index} of {source} is a {kind}; "
        f"warm-up records must hold a {_REPLAYED})"
    )
