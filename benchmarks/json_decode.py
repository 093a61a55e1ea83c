"""JSON request bodies to numpy arrays: ``orjson.loads`` + ``np.asarray`` against ``_fastjson``.

Bodies are TF Serving ``instances`` documents holding one image:

* W2 int: 224x224x3 integers 0-255 (``json.dumps``, about 790 KB);
* W2 float: the same shape of random float32 values as Python floats (``json.dumps``, ~3 MB);
* W1 int: 32x32x3 integers 0-255 (the seed's body, about 16 KB).

Each decoder turns the body into the ``instances`` ndarray. Figures are the median over
``--repeats`` runs of a ``time.perf_counter`` loop of ``--loops`` calls (MB/s counts body bytes).
The machine is shared: keep runs short and compare figures from the same run.

    .venv/bin/python benchmarks/json_decode.py [--repeats 7] [--budget 0.2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from shiba.codecs import _fast

Decoder = Callable[[bytes], npt.NDArray[Any]]


def image_body(side: int, floats: bool) -> bytes:
    """One ``side``x``side``x3 image as a ``{"signature_name", "instances"}`` body."""
    rng = np.random.default_rng(side)
    if floats:
        values: list[Any] = rng.random((1, side, side, 3), dtype=np.float32).astype(float).tolist()
    else:
        values = rng.integers(0, 256, size=(1, side, side, 3)).tolist()
    return json.dumps({"signature_name": "serving_default", "instances": values}).encode()


def decode_reference(body: bytes) -> npt.NDArray[Any]:
    """orjson + numpy: the usual Python way, the reference the codec is measured against."""
    document = orjson.loads(body)
    return np.asarray(document["instances"])


def decode_fast(body: bytes) -> npt.NDArray[Any]:
    """The compiled reader, its FastArray viewed as an ndarray."""
    document = _fast.loads(body)
    if not isinstance(document, dict):
        raise AssertionError("the compiled reader declined a benchmark body")
    array = document["instances"]
    if not _fast.is_fast_array(array):
        raise AssertionError("the instances were not read as one array")
    return _fast.to_ndarray(array)


def seconds_per_call(decode: Decoder, body: bytes, repeats: int, budget: float) -> float:
    """Median over ``repeats`` timed loops; each loop is sized to take about ``budget`` s."""
    start = time.perf_counter()
    decode(body)
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            decode(body)
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed loops per figure")
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per timed loop")
    args = parser.parse_args(argv)
    if not _fast.AVAILABLE:
        print(_fast.UNAVAILABLE_REASON, file=sys.stderr)
        return 1

    workloads = [
        ("W2 int 224x224x3", image_body(224, floats=False)),
        ("W2 float 224x224x3", image_body(224, floats=True)),
        ("W1 int 32x32x3", image_body(32, floats=False)),
    ]
    decoders: list[tuple[str, Decoder]] = [
        ("orjson + np.asarray", decode_reference),
        ("_fastjson + frombuffer", decode_fast),
    ]
    header = f"{'workload':<20} {'body':>9}  {'decoder':<24} {'MB/s':>8} {'µs/body':>10}"
    print(header)
    print("-" * len(header))
    for name, body in workloads:
        expected = decode_reference(body)
        got = decode_fast(body)
        if got.dtype != expected.dtype or not np.array_equal(got, expected):
            raise AssertionError(f"{name}: the decoders disagree")
        for label, decode in decoders:
            seconds = seconds_per_call(decode, body, args.repeats, args.budget)
            print(
                f"{name:<20} {len(body) / 1000:>7.0f}KB  {label:<24}"
                f" {len(body) / seconds / 1e6:>8.0f} {seconds * 1e6:>10.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
