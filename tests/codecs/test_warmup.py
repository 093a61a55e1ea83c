"""Warm-up files written by TensorFlow's TFRecordWriter from TF Serving's own PredictionLog."""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.codecs._crc32c import crc32c, crc32c_reference, masked_crc32c
from shiba.codecs.warmup import parse_warmup_records, read_tfrecords
from shiba.core.errors import Code, DataLoss, InvalidArgument, ShibaError, Unimplemented
from shiba.core.tensors import CLASSIFY_METHOD, REGRESS_METHOD
from shiba.core.warmup import (
    MAX_RECORDS,
    ExamplesRecord,
    MultiInferenceRecord,
    PredictRecord,
)

SOURCE = "/m/1/assets.extra/tf_serving_warmup_requests"
NOT_TFRECORD = ". Please verify your warmup data is in TFRecord format."


# -- CRC-32C ----------------------------------------------------------------------------------


def test_crc32c_known_values() -> None:
    # RFC 3720 (iSCSI) B.4 test vectors, and the classic check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


@pytest.mark.parametrize("size", [16383, 16384, 16385, 256 * 64 + 255, 300_001])
def test_crc32c_lanes_agree_with_the_byte_loop(size: int) -> None:
    data = os.urandom(size)
    assert crc32c(data) == crc32c_reference(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=40_000))
def test_crc32c_property(data: bytes) -> None:
    assert crc32c(data) == crc32c_reference(data)


# -- files written by TensorFlow --------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> Any:
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def apis(tf: Any) -> Any:
    """tensorflow_serving.apis' prediction_log_pb2 (needs TensorFlow's generated protos)."""
    return pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")


@pytest.fixture
def write(tf: Any, tmp_path: Path) -> Iterator[Any]:
    """Writes records with TensorFlow's TFRecordWriter; returns the file's bytes."""
    names = itertools.count()

    def write_records(records: list[bytes]) -> bytes:
        path = tmp_path / f"warmup-{next(names)}"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in records:
                writer.write(record)
        return path.read_bytes()

    yield write_records


def example(tf: Any, **features: float) -> bytes:
    feature = {
        name: tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        for name, value in features.items()
    }
    message: bytes = tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()
    return message


def predict_log(tf: Any, apis: Any, array: Any, signature: str = "", **extra: Any) -> Any:
    log = apis.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "any name"
    request.model_spec.version.value = 99
    request.model_spec.signature_name = signature
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(array))
    request.output_filter.extend(extra.get("output_filter", []))
    log.predict_log.response.outputs["y"].CopyFrom(tf.make_tensor_proto(array))
    return log


@pytest.mark.slow
def test_every_replayed_log_type(tf: Any, apis: Any, write: Any) -> None:
    x = np.array([[1.0], [2.0]], dtype=np.float32)
    strings = np.array([b"a", b"bc"], dtype=object)
    first = predict_log(tf, apis, x, "serving_default", output_filter=["y"])
    second = apis.PredictionLog()
    second.predict_log.request.inputs["s"].CopyFrom(tf.make_tensor_proto(strings))
    second.predict_log.request.inputs["i"].CopyFrom(
        tf.make_tensor_proto([[1, 2, 3]], dtype=tf.int64)
    )
    classify = apis.PredictionLog()
    classify.classify_log.request.model_spec.signature_name = "classify_x_to_y"
    classify.classify_log.request.input.example_list.examples.add().CopyFrom(
        tf.train.Example.FromString(example(tf, x=2.0))
    )
    regress = apis.PredictionLog()
    with_context = regress.regress_log.request.input.example_list_with_context
    with_context.context.CopyFrom(tf.train.Example.FromString(example(tf, x=6.0)))
    with_context.examples.add()
    with_context.examples.add().CopyFrom(tf.train.Example.FromString(example(tf, x=1.0)))
    multi = apis.PredictionLog()
    for signature, method in (("classify_x_to_y", CLASSIFY_METHOD), ("", REGRESS_METHOD)):
        task = multi.multi_inference_log.request.tasks.add()
        task.model_spec.name = "m"
        task.model_spec.signature_name = signature
        task.method_name = method
    multi.multi_inference_log.request.input.example_list.examples.add().CopyFrom(
        tf.train.Example.FromString(example(tf, x=3.0))
    )
    empty = apis.PredictionLog()  # no log type: TF Serving skips it
    data = write(
        [
            m.SerializeToString()
            for m in (first, second, classify, empty, regress, multi)  # in file order
        ]
    )
    records = parse_warmup_records(data, source=SOURCE)
    assert len(records) == 5
    predict, other, classified, regressed, inferred = records
    assert isinstance(predict, PredictRecord)
    assert predict.signature_name == "serving_default"
    assert predict.output_filter == ("y",)
    np.testing.assert_array_equal(predict.inputs["x"], x)
    assert predict.inputs["x"].dtype == np.float32
    assert isinstance(other, PredictRecord)
    assert other.signature_name == ""
    assert other.output_filter == ()
    assert other.inputs["s"].tolist() == [b"a", b"bc"]
    assert other.inputs["i"].dtype == np.int64
    assert other.inputs["i"].tolist() == [[1, 2, 3]]
    assert classified == ExamplesRecord(CLASSIFY_METHOD, "classify_x_to_y", (example(tf, x=2.0),))
    assert isinstance(regressed, ExamplesRecord)
    assert regressed.method == REGRESS_METHOD
    context = example(tf, x=6.0)
    # Context bytes come first, so the example's own features win when TensorFlow parses them.
    assert regressed.examples == (context, context + example(tf, x=1.0))
    merged = tf.train.Example.FromString(regressed.examples[1])
    assert merged.features.feature["x"].float_list.value == [1.0]
    assert inferred == MultiInferenceRecord(
        (("classify_x_to_y", CLASSIFY_METHOD), ("", REGRESS_METHOD)), (example(tf, x=3.0),)
    )


@pytest.mark.slow
def test_framing_agrees_with_tensorflow(tf: Any, write: Any) -> None:
    payloads = [b"", b"a", os.urandom(70_000), b"last"]
    data = write(payloads)
    assert read_tfrecords(data) == payloads
    length, length_crc = struct.unpack_from("<QI", data, 0)
    assert (length, length_crc) == (0, masked_crc32c(struct.pack("<Q", 0)))
    assert read_tfrecords(b"") == []


def _error(data: bytes) -> ShibaError:
    with pytest.raises(ShibaError) as caught:
        parse_warmup_records(data, source=SOURCE)
    return caught.value


@pytest.mark.slow
def test_a_corrupt_checksum_is_data_loss(tf: Any, apis: Any, write: Any) -> None:
    log = predict_log(tf, apis, np.ones((1, 1), np.float32)).SerializeToString()
    data = bytearray(write([log, log]))
    size = len(data) // 2
    broken = bytearray(data)
    broken[size + 12 + 5] ^= 0x01  # a byte of the second record's data
    err = _error(bytes(broken))
    assert isinstance(err, DataLoss)
    assert err.code is Code.DATA_LOSS
    assert err.message == (
        f"corrupted record at {size + 12} (record 1 of {SOURCE}: the data does not match its "
        f"checksum){NOT_TFRECORD}"
    )
    broken = bytearray(data)
    broken[size + 9] ^= 0x80  # the second record's length checksum
    assert _error(bytes(broken)).message == (
        f"corrupted record at {size} (record 1 of {SOURCE}: the length does not match its "
        f"checksum){NOT_TFRECORD}"
    )


@pytest.mark.slow
def test_a_truncated_file_is_data_loss(tf: Any, apis: Any, write: Any) -> None:
    log = predict_log(tf, apis, np.ones((1, 1), np.float32)).SerializeToString()
    data = write([log])
    err = _error(data[:-1])
    assert isinstance(err, DataLoss)
    assert err.message == (
        f"truncated record at 12 (record 0 of {SOURCE}: {len(log)} bytes of data and their "
        f"checksum expected, {len(log) + 3} left){NOT_TFRECORD}"
    )
    assert _error(data + data[:5]).message == (
        f"truncated record at {len(data)} (record 1 of {SOURCE}: 5 bytes left, a header has "
        f"12){NOT_TFRECORD}"
    )


@pytest.mark.slow
def test_more_than_1000_records_is_an_error(tf: Any, apis: Any, write: Any) -> None:
    log = predict_log(tf, apis, np.ones((1, 1), np.float32)).SerializeToString()
    one = write([log])
    assert len(parse_warmup_records(one * MAX_RECORDS, source=SOURCE)) == MAX_RECORDS
    err = _error(one * (MAX_RECORDS + 1))
    assert isinstance(err, InvalidArgument)
    assert err.message == f"Number of warmup records exceeds the maximum (1000) at {SOURCE}"


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "number"), [("session_run_log", 5), ("predict_streamed_log", 7)])
def test_unsupported_log_types(apis: Any, write: Any, kind: str, number: int) -> None:
    log = apis.PredictionLog()
    getattr(log, kind).SetInParent()
    err = _error(write([log.SerializeToString()]))
    assert isinstance(err, Unimplemented)
    assert err.message == (
        f"Unsupported log_type for warmup: {number} (record 0 of {SOURCE} is a {kind}; warm-up "
        "records must hold a predict_log, classify_log, regress_log or multi_inference_log)"
    )


@pytest.mark.slow
def test_bytes_that_are_not_a_prediction_log(write: Any) -> None:
    err = _error(write([b"\x0a\xff\xff"]))  # field 1, length-delimited, length runs off the end
    assert isinstance(err, InvalidArgument)
    assert err.message.startswith(
        f"Failed to parse warmup record 0 from {SOURCE}: not a serialized "
        "tensorflow.serving.PredictionLog ("
    )
    assert "shiba." not in err.message, err.message


@pytest.mark.slow
def test_requests_that_cannot_be_decoded(tf: Any, apis: Any, write: Any) -> None:
    bad_tensor = apis.PredictionLog()
    tensor = bad_tensor.predict_log.request.inputs["x"]
    tensor.CopyFrom(tf.make_tensor_proto(np.ones((2, 2), np.float32)))
    tensor.tensor_content = tensor.tensor_content[:-4]
    empty_input = apis.PredictionLog()
    empty_input.classify_log.request.model_spec.signature_name = "c"
    unnamed = apis.PredictionLog()
    unnamed.multi_inference_log.request.tasks.add().method_name = CLASSIFY_METHOD
    messages = [_error(write([m.SerializeToString()])) for m in (bad_tensor, empty_input, unnamed)]
    assert all(isinstance(m, InvalidArgument) for m in messages)
    assert messages[0].message.startswith(
        f"Warm-up record 0 of {SOURCE} failed: tensor parsing error: x: "
    )
    assert messages[1].message == f"Warm-up record 0 of {SOURCE} failed: Input is empty."
    assert messages[2].message == (
        f"Warm-up record 0 of {SOURCE} failed: Found ModelSpec with an empty model name."
    )
