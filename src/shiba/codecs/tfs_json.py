"""TensorFlow Serving's REST JSON, wire bytes to numpy and back, byte for byte. No I/O.

Requests are read with TF Serving's rules (``tensorflow_serving/util/json_tensor.cc``) and every
error is the :class:`~shiba.core.errors.ShibaError` TF Serving would answer, with its wording
(``InvalidArgument`` nearly always; ``Unimplemented`` for a tensor type JSON cannot carry).
Answers are the bytes TF Serving writes: RapidJSON's ``PrettyWriter`` layout for predict,
classify, regress and errors, protobuf's JSON printer for model status and metadata.

Thread safety: every function is pure and may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.codecs import _fast_predict
from shiba.codecs._decimal import float_texts
from shiba.codecs._json_parse import parse_json
from shiba.codecs._model_info import metadata_text, status_text
from shiba.codecs._predict_inputs import decode_columnar, decode_instances
from shiba.codecs._predict_outputs import columnar_text, row_text
from shiba.codecs._rapidjson import debug_string, quote, text_of, to_bytes
from shiba.codecs._tensor_build import ArrayBuilder, build_array
from shiba.codecs.examples import encode_example
from shiba.core.errors import InvalidArgument
from shiba.core.lifecycle.states import VersionStatus
from shiba.core.tensors import DEFAULT_SIGNATURE, Signature

__all__ = [
    "ExamplesRequest",
    "PredictRequest",
    "decode_examples",
    "decode_predict",
    "encode_classify",
    "encode_error",
    "encode_metadata",
    "encode_predict",
    "encode_regress",
    "encode_status",
]


#: The one step of decode_predict a faster implementation may replace: one parsed JSON value to
#: one array of the signature dtype, with TF Serving's errors (see _tensor_build.build_array).
_BUILD_ARRAY: ArrayBuilder = build_array


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """A decoded ``:predict`` body.

    ``signature_name`` is the body's, or ``serving_default`` when it is absent or empty.
    ``columnar`` is True for an ``inputs`` body (answer with ``outputs``), False for
    ``instances`` (answer with ``predictions``). ``inputs`` maps input aliases, in the
    signature's order, to arrays of the signature's dtype (``DT_STRING``: object arrays of
    ``bytes``). It holds every input of the signature, except in one TF Serving quirk: with
    several inputs and ``instances`` whose first element is a ``{"b64": ...}`` value, only the
    first input is filled, and the predict call's input check reports the rest.
    """

    signature_name: str
    columnar: bool
    inputs: dict[str, npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class ExamplesRequest:
    """A decoded ``:classify`` or ``:regress`` body.

    ``signature_name`` as in :class:`PredictRequest`. ``examples`` are serialized ``tf.Example``
    protos, one per JSON example, each preceded by the serialized ``context`` when the body has
    one: TF Serving concatenates the two, which protobuf reads as a merge in which an example's
    feature replaces a context feature of the same name.
    """

    signature_name: str
    examples: list[bytes]


def _document(body: bytes) -> dict[str, Any]:
    document = parse_json(body)
    if not isinstance(document, dict):
        raise InvalidArgument(f"JSON Value: {debug_string(document)} Is not object")
    return document


def _signature_name(document: dict[str, Any]) -> str:
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgument(
            f"JSON Value: {debug_string(document)} not formatted correctly."
            " 'signature_name' key must be a string value."
        )
    return name


def decode_predict(body: bytes, signature_for: Callable[[str], Signature]) -> PredictRequest:
    """Read a ``:predict`` body as TF Serving's ``FillPredictRequestFromJson`` does.

    ``signature_for`` is called with the resolved signature name after the body is parsed and
    ``signature_name`` checked (once more if the fast path falls back: it must be a cheap look-up;
    caching it per request cost more than the second call, ~1.5 µs a request on the loop);
    whatever it raises (an unknown signature) propagates. Every
    problem with the body raises :class:`InvalidArgument` (an input of a dtype TF Serving cannot
    read from JSON, such as ``DT_HALF``, raises :class:`~shiba.core.errors.Unimplemented`).
    """
    fast = _fast_predict.decode(body, signature_for)
    if fast is not None:
        return PredictRequest(signature_name=fast[0], columnar=fast[1], inputs=fast[2])
    document = _document(body)
    given_name = _signature_name(document)
    name = given_name or DEFAULT_SIGNATURE
    specs = signature_for(name).inputs
    if not specs:
        raise InvalidArgument(f"Failed to get input map for signature: {given_name or 'DEFAULT'}")
    # Without a true/false token in the body no value can be a boolean, which lets numeric
    # inputs take numpy's fast path (numpy would read a boolean as 0 or 1 without complaint).
    may_hold_bools = b"true" in body or b"false" in body
    if "instances" in document:
        if "inputs" in document:
            raise InvalidArgument(
                f"JSON Value: {debug_string(document)} Not formatted correctly expecting only"
                " one of 'inputs' or 'instances' keys to exist "
            )
        instances = document["instances"]
        if not isinstance(instances, list):
            raise InvalidArgument(
                f"JSON Value: {debug_string(document)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise InvalidArgument(
                f"JSON Value: {debug_string(document)} No values in 'instances' array"
            )
        inputs = decode_instances(instances, specs, _BUILD_ARRAY, may_hold_bools)
        return PredictRequest(signature_name=name, columnar=False, inputs=inputs)
    if "inputs" in document:
        inputs = decode_columnar(document["inputs"], specs, _BUILD_ARRAY, may_hold_bools)
        return PredictRequest(signature_name=name, columnar=True, inputs=inputs)
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def encode_predict(outputs: Mapping[str, npt.NDArray[Any]], columnar: bool) -> bytes:
    """The ``:predict`` answer TF Serving writes for these named outputs (``MakeJsonFromTensors``).

    Row form (``columnar=False``): ``{"predictions": [...]}`` split along dimension 0; with one
    output each instance is its value, with several an object of name to value. Columnar form:
    ``{"outputs": value}`` or ``{"outputs": {name: value}}``. Outputs are written in the
    mapping's order. float32 and float64 print as TF Serving prints them (``3.0``, ``0.1``,
    ``3.14159274``, ``NaN``), string outputs whose name ends in ``_bytes`` as ``{"b64": ...}``.

    Raises :class:`InvalidArgument` as TF Serving does: no outputs, a rank-0 output or differing
    0th dimensions in row form, or values of a type it cannot write (``half``, ``uint16``,
    complex).
    """
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    arrays = {name: np.asarray(array) for name, array in outputs.items()}
    return to_bytes(columnar_text(arrays) if columnar else row_text(arrays))


def decode_examples(body: bytes) -> ExamplesRequest:
    """Read a ``:classify``/``:regress`` body as TF Serving's ``FillClassifyRegressRequestFromJson``.

    Raises :class:`InvalidArgument` with TF Serving's wording for every problem, including its
    ``When method is classify, key 'examples' is expected and was not found`` for regress too.
    """
    document = _document(body)
    name = _signature_name(document) or DEFAULT_SIGNATURE
    context = encode_example(document["context"]) if "context" in document else b""
    if "examples" not in document:
        raise InvalidArgument(
            f"JSON Value: {debug_string(document)} When method is classify, key 'examples'"
            " is expected and was not found"
        )
    examples = document["examples"]
    if not isinstance(examples, list):
        raise InvalidArgument(
            f"JSON Value: {debug_string(document)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise InvalidArgument(
            f"JSON Value: {debug_string(document)} 'examples' value is an empty array"
        )
    return ExamplesRequest(
        signature_name=name, examples=[context + encode_example(example) for example in examples]
    )


def encode_classify(results: Sequence[Sequence[tuple[bytes, float]]]) -> bytes:
    """``{"results": [[[label, score], ...], ...]}``: per example, its (label, score) pairs.

    Scores are float32, as in ``ClassificationResult``. No examples raises TF Serving's
    :class:`InvalidArgument` ``Cannot convert empty ClassificationResults to JSON``.
    """
    if not results:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classes in results:
        scores = float_texts(np.array([score for _, score in classes], dtype=np.float32))
        pairs = (
            f"[{quote(text_of(label))}, {score}]"
            for (label, _), score in zip(classes, scores, strict=True)
        )
        rows.append("[" + ", ".join(pairs) + "]")
    return to_bytes('{\n    "results": [' + ", ".join(rows) + "\n    ]\n}")


def encode_regress(values: Sequence[float]) -> bytes:
    """``{"results": [value, ...]}``, one float32 per example, on one line as TF Serving writes it.

    No values raises :class:`InvalidArgument` ``Cannot convert empty RegressionResults to JSON``.
    """
    if not len(values):
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    with np.errstate(over="ignore"):
        texts = float_texts(np.asarray(values, dtype=np.float64).astype(np.float32))
    return to_bytes('{\n    "results": [' + ", ".join(texts) + "]\n}")


def encode_error(message: str) -> bytes:
    """``{"error": message}`` as TF Serving's ``MakeJsonFromStatus`` writes it."""
    return to_bytes('{\n    "error": ' + quote(text_of(message)) + "\n}")


def encode_status(states: Sequence[VersionStatus]) -> bytes:
    """``GetModelStatusResponse`` JSON with one entry per state, in the given order.

    TF Serving lists a model's versions from the highest down; the caller orders ``states``.
    """
    return to_bytes(status_text(states))


def encode_metadata(name: str, version: int, signatures: Mapping[str, Signature]) -> bytes:
    """``GetModelMetadataResponse`` JSON for one version: its ``signature_def`` map, in order.

    Signature ``defaults`` values are array-likes, printed as ``make_tensor_proto`` would store
    them.
    """
    return to_bytes(metadata_text(name, version, signatures))
