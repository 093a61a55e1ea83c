from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

import pytest
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from shiba.core.engine_choice import EngineDecision
from shiba.core.engines import ServingEngines
from shiba.core.errors import Code, InvalidArgument, NotFound
from shiba.core.ids import ServableId
from shiba.core.metrics import CONTENT_TYPE, Metrics, prometheus_name
from shiba.core.servable import Outputs, Servable
from shiba.core.statistics import Execution
from shiba.core.tensors import Signature, Tensors
from tests._prometheus import samples


def test_names_are_mangled_as_tf_serving_does() -> None:
    assert prometheus_name("/tensorflow/serving/request_count") == (
        ":tensorflow:serving:request_count"
    )
    assert prometheus_name("/tensorflow/cc/saved_model/load_latency") == (
        ":tensorflow:cc:saved_model:load_latency"
    )
    assert prometheus_name("9lives/a-b.c") == "_9lives:a:b:c"


def test_an_empty_page_declares_every_family_with_tf_serving_names() -> None:
    page = Metrics().render().decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", page, re.MULTILINE))
    assert types == {
        ":tensorflow:cc:saved_model:load_attempt_count": "counter",
        ":tensorflow:cc:saved_model:load_latency": "counter",
        ":tensorflow:serving:batching_session:padding_size": "histogram",
        ":tensorflow:serving:batching_session:processed_batch_size": "histogram",
        ":tensorflow:serving:batching_session:queuing_latency": "histogram",
        ":tensorflow:serving:batching_session:wrapped_run_count": "counter",
        ":tensorflow:serving:request_count": "counter",
        ":tensorflow:serving:request_latency": "histogram",
    }
    assert "# HELP :tensorflow:serving:request_count The total number of requests.\n" in page
    assert not [line for line in page.splitlines() if not line.startswith("#")]
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_requests_count_per_model_and_status_and_time_only_successes() -> None:
    metrics = Metrics()
    metrics.record_request("m", "predict", "REST", Code.OK, 0.000_5)
    metrics.record_request("m", "Predict", "GRPC", Code.OK, 0.002)
    metrics.record_request("m", "Predict", "GRPC", Code.INVALID_ARGUMENT, 0.001)
    metrics.record_request("", "", "REST", Code.INVALID_ARGUMENT, 0.001)
    metrics.record_request("m", "", "REST", Code.OK, 0.000_01)
    found = samples(metrics.render())
    count = ":tensorflow:serving:request_count"
    assert found[f'{count}{{model_name="m",status="OK"}}'] == "3"
    assert found[f'{count}{{model_name="m",status="INVALID_ARGUMENT"}}'] == "1"
    assert found[f'{count}{{model_name="",status="INVALID_ARGUMENT"}}'] == "1"
    latency = ":tensorflow:serving:request_latency"
    rest = 'model_name="m",API="predict",entrypoint="REST"'
    grpc = 'model_name="m",API="Predict",entrypoint="GRPC"'
    status = 'model_name="m",API="",entrypoint="REST"'
    assert found[f"{latency}_count{{{rest}}}"] == "1"
    assert found[f"{latency}_sum{{{rest}}}"] == "500"  # microseconds
    assert found[f"{latency}_count{{{grpc}}}"] == "1"  # the failed one is not timed
    assert found[f"{latency}_sum{{{grpc}}}"] == "2000"
    assert found[f"{latency}_count{{{status}}}"] == "1"
    # Buckets are cumulative, with TF's limits (10 µs, then each 1.8 times the last).
    assert found[f'{latency}_bucket{{{rest},le="340.122"}}'] == "0"
    assert found[f'{latency}_bucket{{{rest},le="612.22"}}'] == "1"
    assert found[f'{latency}_bucket{{{rest},le="+Inf"}}'] == "1"
    assert not any(key.startswith(f'{latency}_count{{model_name=""') for key in found)


def test_histogram_limits_and_placement_follow_tensorflow() -> None:
    metrics = Metrics()
    metrics.record_batch(batch(1, 1, 0.0))  # a batch of 1: TF puts a value equal to a limit above
    metrics.record_batch(batch(3, 4, 0.0))
    found = samples(metrics.render())
    size = ":tensorflow:serving:batching_session:processed_batch_size"
    limits = [key for key in found if key.startswith(f"{size}_bucket")]
    assert len(limits) == 15  # 1, 2, 4 ... 8192 and +Inf
    assert found[f'{size}_bucket{{le="1"}}'] == "0"
    assert found[f'{size}_bucket{{le="2"}}'] == "1"
    assert found[f'{size}_bucket{{le="4"}}'] == "1"
    assert found[f'{size}_bucket{{le="8"}}'] == "2"
    assert found[f'{size}_bucket{{le="8192"}}'] == "2"
    assert found[f'{size}_bucket{{le="+Inf"}}'] == "2"
    latency = [
        key.split('le="')[1][:-2]
        for key in samples(_one_request())
        if key.startswith(":tensorflow:serving:request_latency_bucket")
    ]
    assert latency[:5] == ["10", "18", "32.4", "58.32", "104.976"]
    assert latency[-3:] == ["8.19309e+08", "1.47476e+09", "+Inf"]
    assert len(latency) == 34


def batch(rows: int, padded: int, wait_seconds: float) -> Execution:
    """A batch run of ``rows`` rows run as ``padded``, whose first request waited so long."""
    wait = round(wait_seconds * 1e9)
    return Execution(rows, padded, 1, wait, wait, 0, 1000, 0)


def _one_request() -> bytes:
    metrics = Metrics()
    metrics.record_request("m", "predict", "REST", Code.OK, 0.001)
    return metrics.render()


def test_batches() -> None:
    metrics = Metrics()
    metrics.record_batch(batch(3, 4, 0.000_25))
    metrics.record_batch(batch(4, 4, 0.002))
    metrics.record_batch(batch(1, 1, 0.0))
    found = samples(metrics.render())
    prefix = ":tensorflow:serving:batching_session"
    assert found[f"{prefix}:wrapped_run_count{{}}"] == "3"
    assert found[f'{prefix}:queuing_latency_count{{thread_pool_name=""}}'] == "3"
    assert found[f'{prefix}:queuing_latency_sum{{thread_pool_name=""}}'] == "2250"
    assert found[f'{prefix}:queuing_latency_bucket{{thread_pool_name="",le="100"}}'] == "1"
    assert found[f"{prefix}:processed_batch_size_count{{}}"] == "3"
    assert found[f"{prefix}:processed_batch_size_sum{{}}"] == "9"
    assert found[f'{prefix}:padding_size_count{{execution_batch_size="4"}}'] == "2"
    assert found[f'{prefix}:padding_size_sum{{execution_batch_size="4"}}'] == "1"
    assert found[f'{prefix}:padding_size_count{{execution_batch_size="1"}}'] == "1"


def test_time_request_takes_the_status_from_what_the_block_raised() -> None:
    metrics = Metrics()
    with metrics.time_request("m", "Predict", "GRPC"):
        pass
    with pytest.raises(NotFound), metrics.time_request("", "Predict", "GRPC") as timer:
        timer.model_name = "named-later"
        raise NotFound("no such model")
    with pytest.raises(ValueError), metrics.time_request("m", "Classify", "GRPC"):
        raise ValueError("a bug")
    with pytest.raises(KeyboardInterrupt), metrics.time_request("m", "Regress", "GRPC"):
        raise KeyboardInterrupt
    found = samples(metrics.render())
    count = ":tensorflow:serving:request_count"
    assert found[f'{count}{{model_name="m",status="OK"}}'] == "1"
    assert found[f'{count}{{model_name="named-later",status="NOT_FOUND"}}'] == "1"
    assert found[f'{count}{{model_name="m",status="INTERNAL"}}'] == "1"
    assert found[f'{count}{{model_name="m",status="CANCELLED"}}'] == "1"
    latency = ":tensorflow:serving:request_latency_count"
    assert found[f'{latency}{{model_name="m",API="Predict",entrypoint="GRPC"}}'] == "1"
    assert len([key for key in found if key.startswith(latency)]) == 1


class _Nothing:
    @property
    def signatures(self) -> Mapping[str, Signature]:
        return {}

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        return {}

    def close(self) -> None:
        pass


class _FlakyLoader:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.unloaded = False

    def load(self) -> Servable:
        if self.failures:
            self.failures -= 1
            raise InvalidArgument("not yet")
        return _Nothing()

    def unload(self) -> None:
        self.unloaded = True


def test_timed_loader_records_every_attempt() -> None:
    metrics = Metrics()
    inner = _FlakyLoader(failures=2)
    loader = metrics.timed_loader(inner, "/models/m/1")
    for _ in range(2):
        with pytest.raises(InvalidArgument, match="not yet"):
            loader.load()
    assert isinstance(loader.load(), _Nothing)
    loader.unload()
    assert inner.unloaded
    found = samples(metrics.render())
    attempts = ":tensorflow:cc:saved_model:load_attempt_count"
    assert found[f'{attempts}{{model_path="/models/m/1",status="fail"}}'] == "2"
    assert found[f'{attempts}{{model_path="/models/m/1",status="success"}}'] == "1"
    assert int(found[':tensorflow:cc:saved_model:load_latency{model_path="/models/m/1"}']) >= 0
    metrics.record_load("/models/m/2", True, 1.5)
    again = samples(metrics.render())
    assert again[':tensorflow:cc:saved_model:load_latency{model_path="/models/m/2"}'] == "1500000"


def test_label_values_are_escaped_and_the_page_parses() -> None:
    metrics = Metrics()
    metrics.record_request('we"ird\\na\nme', "predict", "REST", Code.OK, 0.001)
    page = metrics.render()
    assert b'model_name="we\\"ird\\\\na\\nme"' in page
    # prometheus_client's parser reads the page (its counters want _total; compare values).
    families = {f.name: f for f in text_string_to_metric_families(page.decode())}
    latency = families[":tensorflow:serving:request_latency"]
    (count,) = [s for s in latency.samples if s.name.endswith("_count")]
    assert count.labels["model_name"] == 'we"ird\\na\nme'
    assert count.value == 1


def test_each_metrics_has_its_own_registry_and_shows_what_else_is_registered() -> None:
    first, second = Metrics(), Metrics()
    first.record_request("m", "predict", "REST", Code.OK, 0.001)
    assert b'model_name="m"' in first.render()
    assert b'model_name="m"' not in second.render()
    extra = Counter("shiba_extra", "Something else.", registry=second.registry)
    extra.inc(2)
    page = second.render().decode()
    assert "# TYPE shiba_extra_total counter\nshiba_extra_total 2\n" in page
    assert "_created" not in page


def test_the_engine_of_each_loaded_signature_is_a_gauge_of_shibas_own() -> None:
    engines = ServingEngines()
    metrics = Metrics(engines)
    empty = metrics.render().decode()
    engine = ":shiba:signature_engine"
    assert empty.endswith(
        f"# HELP {engine} Which engine serves each signature of each loaded model version, and "
        f"why (shiba's own).\n# TYPE {engine} gauge\n"
    )
    # TF Serving's families come first and read exactly as on a page without the gauge
    assert empty.startswith(Metrics().render().decode())
    recorded = engines.record(
        ServableId("ViT", 1),
        {
            "serving_default": EngineDecision("openvino", "verified, max abs diff 3e-07", 3e-7),
            "classify": EngineDecision("tensorflow", 'input "x" is DT_STRING'),
        },
        platform="tensorflow",
    )
    engines.record(
        ServableId("onnx", 3), {"": EngineDecision("onnxruntime", "onnx models")}, "onnx"
    )
    page = metrics.render().decode()
    labels = 'model_name="ViT",model_version="1",runtime="tensorflow",signature_name='
    assert page[len(empty) :] == (
        f'{engine}{{{labels}"serving_default",'
        'engine="openvino",reason="verified, max abs diff 3e-07"} 1\n'
        f'{engine}{{{labels}"classify",engine="tensorflow",reason="input \\"x\\" is DT_STRING"}} 1\n'
        f'{engine}{{model_name="onnx",model_version="3",runtime="onnx",signature_name="",'
        'engine="onnxruntime",reason="onnx models"} 1\n'
    )
    assert engines.platform(ServableId("onnx", 3)) == "onnx"
    families = {f.name: f for f in text_string_to_metric_families(page)}
    assert [s.labels["reason"] for s in families[engine].samples][1] == 'input "x" is DT_STRING'
    engines.forget(ServableId("ViT", 1), recorded)
    engines.forget(ServableId("onnx", 3))
    assert metrics.render().decode() == empty
    assert engines.platform(ServableId("onnx", 3)) is None


def test_recording_from_many_threads_loses_nothing() -> None:
    metrics = Metrics()

    def work() -> None:
        for _ in range(2000):
            metrics.record_request("m", "predict", "REST", Code.OK, 0.000_1)
            metrics.record_batch(batch(2, 2, 0.000_1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = samples(metrics.render())
    assert found[':tensorflow:serving:request_count{model_name="m",status="OK"}'] == "8000"
    assert found[":tensorflow:serving:batching_session:wrapped_run_count{}"] == "8000"


def test_importing_the_module_does_not_import_prometheus_client() -> None:
    code = "import sys, shiba.core.metrics; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
