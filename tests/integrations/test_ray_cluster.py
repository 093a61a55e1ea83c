"""``shiba serve --ray`` on a local Ray cluster (a head and one worker node, started here): one
autoscaled replica (``--num_replicas=auto``), then two replicas behind shiba's front end, the
seed's client, TF Serving's gRPC stubs and tritonclient's gRPC client against it, a new version
published under load and a replica killed under load, with no failed request."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests

from tests._tls import Authority, ssl_config_text
from tests.conftest import REPO
from tests.integration.conftest import ServerProcess, free_port, model_config_text, wait_until
from tests.models import build_onnx_model, build_onnx_vit

pytestmark = [pytest.mark.slow, pytest.mark.integration]

import tensorflow as tf  # noqa: E402
import tritonclient.grpc as triton_grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow_serving.apis import (  # type: ignore[import-untyped]  # noqa: E402
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import (  # type: ignore[import-untyped]  # noqa: E402
    model_server_config_pb2,
)
from tritonclient.utils import InferenceServerException  # noqa: E402

#: How Ray titles a shiba replica's worker process (then, while it runs a call, the call's name).
REPLICA_TITLE = b"ray::ServeReplica:shiba:ShibaReplica"


def _ray_processes() -> dict[int, bytes]:
    """Every process whose title Ray set (``ray::...``), by pid."""
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::"):
                found[int(entry.name)] = cmdline.split(b"\0")[0]
    return found


def replica_pids() -> list[int]:
    return sorted(pid for pid, title in _ray_processes().items() if title.startswith(REPLICA_TITLE))


def _ours() -> set[int]:
    """Every process below this one (Ray's GCS, raylets and the workers they start) and every
    process Ray titled (a worker whose raylet is gone is no longer below this one)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    below: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return below | set(_ray_processes())


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head node and a worker node (2 CPUs each) on this machine, both stopped at the end, and
    any process of theirs still alive then killed by its pid (even if the start failed)."""
    before = _ours()
    temp = tmp_path_factory.mktemp("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", str(temp))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves this machine
        from ray.cluster_utils import Cluster

        cluster: Cluster | None = None
        try:
            cluster = Cluster(
                initialize_head=True,
                connect=False,
                head_node_args={"num_cpus": 2, "include_dashboard": False},
            )
            cluster.add_node(num_cpus=2)
            yield str(cluster.address)
        finally:
            started = _ours() - before
            if cluster is not None:
                cluster.shutdown()  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and started & _ours():
                time.sleep(0.2)
            for pid in started & _ours():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("models") / "ViT"
    build_onnx_vit(base, 1, seed=0)
    return base


class Front:
    """The ``shiba serve --ray`` process and a gRPC channel to it."""

    def __init__(self, server: ServerProcess, grpc_port: int) -> None:
        self.server = server
        self.grpc_port = grpc_port
        self.channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def predict(self, images: np.ndarray[Any, Any]) -> predict_pb2.PredictResponse:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ViT"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
        return self.predictions.Predict(request, timeout=30)


@pytest.fixture(scope="module")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The front end's ``--model_repository``: ``half`` (a small ONNX model) and ``broken``
    (a version whose model file is not ONNX)."""
    folder = tmp_path_factory.mktemp("repository")
    build_onnx_model(folder / "half")
    (folder / "broken" / "1").mkdir(parents=True)
    (folder / "broken" / "1" / "model.onnx").write_bytes(b"not an ONNX model")
    return folder


@pytest.fixture(scope="module")
def front(
    ray_address: str,
    base_path: Path,
    model_repository: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Front]:
    grpc_port = free_port()
    server = ServerProcess(
        [
            "--ray",
            f"--ray_address={ray_address}",
            "--num_replicas",
            "2",
            "--model_name=ViT",
            f"--model_base_path={base_path}",
            f"--model_repository={model_repository}",
            "--max_num_load_retries=0",  # a model that fails to load fails at once
            f"--port={grpc_port}",
            "--onnx_engine=onnxruntime",
            "--file_system_poll_wait_seconds=1",
        ],
        tmp_path_factory.mktemp("front") / "server.log",
        env={"RAY_DEDUP_LOGS": "0"},
    )
    try:
        server.wait_ready(timeout=240)
        front = Front(server, grpc_port)
        yield front
        front.channel.close()
    finally:
        assert server.stop() == 0, server.logs()


def _images(n: int = 1) -> np.ndarray[Any, Any]:
    return np.random.default_rng(7).integers(0, 256, (n, 32, 32, 3)).astype(np.float32)


def test_num_replicas_auto_deploys_one_autoscaled_replica(
    ray_address: str, base_path: Path, tmp_path: Path
) -> None:
    """Before the module's front end deploys its two replicas: ``--num_replicas=auto`` starts
    Ray Serve's autoscaling at its minimum (one replica), which serves; stopping the front end
    deletes the application (the replica is gone)."""
    auto = ServerProcess(
        [
            *("--ray", f"--ray_address={ray_address}", "--num_replicas=auto"),
            *("--model_name=ViT", f"--model_base_path={base_path}", "--onnx_engine=onnxruntime"),
        ],
        tmp_path / "auto.log",
    )
    try:
        auto.wait_ready(timeout=240)
        answer = auto.post("/v1/models/ViT:predict", {"instances": _images().tolist()})
        assert answer.status_code == 200, answer.text
        assert len(replica_pids()) == 1
        assert "autoscaling from 1 to 100 replicas for 2 calls in each" in auto.logs()
    finally:
        assert auto.stop() == 0, auto.logs()
    wait_until(lambda: not replica_pids(), 60)


def test_two_replicas_run_on_the_cluster(front: Front) -> None:
    assert len(replica_pids()) == 2


def test_seed_client_through_ray(front: Front) -> None:
    url = f"{front.server.url}/v1/models/ViT:predict"
    done = subprocess.run(
        [sys.executable, "examples/client.py", "examples/images/digit_7.png", "--url", url],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].strip()[-1] in "0123456789"


def test_grpc_stubs_and_rest_agree_through_ray(front: Front) -> None:
    images = _images(2)
    answer = front.predict(images)
    assert answer.model_spec.name == "ViT"
    assert answer.model_spec.version.value == 1
    grpc_probabilities = tf.make_ndarray(answer.outputs["probabilities"])
    rest = front.server.post("/v1/models/ViT:predict", {"instances": images.tolist()})
    assert rest.status_code == 200, rest.text
    np.testing.assert_allclose(rest.json()["predictions"], grpc_probabilities, atol=1e-6)

    status = front.models.GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "ViT"}), timeout=30
    )
    assert [(v.version, v.state) for v in status.model_version_status] == [(1, 30)]


def test_open_inference_protocol_over_grpc_through_ray(front: Front) -> None:
    """tritonclient's gRPC client reaches ``inference.GRPCInferenceService`` through the front
    end: the replica's answer (the same probabilities as TF Serving's Predict) and its errors."""
    client = triton_grpc.InferenceServerClient(url=f"127.0.0.1:{front.grpc_port}")
    try:
        assert client.is_server_live() and client.is_model_ready("ViT")
        images = _images(2)
        tensor = triton_grpc.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        probabilities = client.infer("ViT", [tensor]).as_numpy("probabilities")
        assert probabilities is not None
        expected = tf.make_ndarray(front.predict(images).outputs["probabilities"])
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)
        with pytest.raises(InferenceServerException) as caught:
            client.infer("absent", [tensor])
        assert caught.value.status() == "StatusCode.NOT_FOUND"
        assert "absent" in str(caught.value.message())
    finally:
        client.close()


def test_errors_come_back_as_shiba_gives_them(front: Front) -> None:
    bad = front.server.post("/v1/models/ViT:predict", b"{bad")
    assert bad.status_code == 400
    assert "JSON Parse error" in bad.json()["error"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ViT"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(_images()))
    with pytest.raises(grpc.RpcError) as caught:
        front.predictions.Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        front.models.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(), timeout=30
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Only ModelConfigList is currently supported" in str(caught.value.details())
    assert front.server.get("/v1/models/ViT").status_code == 200


def _reload(front: Front, *models: str) -> None:
    config = text_format.Parse(
        model_config_text(*models), model_server_config_pb2.ModelServerConfig()
    )
    front.models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=300
    )


def _available(front: Front, name: str) -> bool:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    try:
        status = front.models.GetModelStatus(request, timeout=30)
    except grpc.RpcError:
        return False
    return any(v.state == 30 for v in status.model_version_status)


def test_a_config_reload_reaches_every_replica(front: Front, base_path: Path) -> None:
    """HandleReloadConfigRequest reaches one replica, and answers once all applied it: every
    answer after it, from either replica, knows the new model; a replica's error comes back."""
    vit = f'name: "ViT" base_path: "{base_path}"'
    with pytest.raises(grpc.RpcError) as caught:
        _reload(front, vit + ' version_labels { key: "stable" value: 9 }')
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    _reload(front, vit, f'name: "ViT2" base_path: "{base_path}"')
    assert all(_available(front, "ViT2") for _ in range(20))
    assert _available(front, "ViT")


def _replicas_that_logged(front: Front, line: str) -> set[int]:
    """The pids of the replicas whose log (which Ray streams to the front end's, each line
    prefixed with its worker's pid) has ``line``."""
    pattern = re.compile(rf"\(ServeReplica:shiba:ShibaReplica pid=(\d+)[^)]*\).*{re.escape(line)}")
    return {int(pid) for pid in pattern.findall(front.server.logs())}


def _half_infers(front: Front) -> int:
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [4.0]},
            {"name": "k", "shape": [1, 1], "datatype": "INT64", "data": [2]},
        ]
    }
    answer = front.server.post("/v2/models/half/infer", body)
    if answer.status_code == 200:
        outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
        assert outputs == {"y": [4.0], "z": [8.0]}
    return answer.status_code


def test_repository_loads_and_unloads_reach_every_replica(front: Front) -> None:
    """A load through REST and an unload through tritonclient's gRPC reach one replica each, and
    answer once every replica applied them: each replica loaded (then unloaded) the model, and
    every answer after the call, from either replica, agrees."""
    replicas = set(replica_pids())
    assert front.server.post("/v2/repository/models/half/load").status_code == 200
    assert [_half_infers(front) for _ in range(20)] == [200] * 20
    loaded = "Successfully loaded servable version {name: half version: 1}"
    wait_until(lambda: _replicas_that_logged(front, loaded) >= replicas, 30)

    client = triton_grpc.InferenceServerClient(url=f"127.0.0.1:{front.grpc_port}")
    try:
        index = client.get_model_repository_index(as_json=True)["models"]
        assert {"name": "half", "version": "1", "state": "READY"} in index
        client.unload_model("half")
        assert not any(client.is_model_ready("half") for _ in range(20))
        assert client.is_model_ready("ViT")
    finally:
        client.close()
    assert [_half_infers(front) for _ in range(20)] == [404] * 20
    unloaded = "Unloaded servable version {name: half version: 1}"
    wait_until(lambda: _replicas_that_logged(front, unloaded) >= replicas, 30)


def test_a_failed_repository_load_says_why_and_is_undone_on_every_replica(front: Front) -> None:
    """The error is the repository's (the versions' errors); every replica tried the load, and
    the config is put back on all of them."""
    failed = front.server.post("/v2/repository/models/broken/load")
    assert failed.status_code == 400, failed.text
    assert "failed to load model 'broken'" in failed.json()["error"]
    tried = "Servable version {name: broken version: 1} failed"
    wait_until(lambda: _replicas_that_logged(front, tried) >= set(replica_pids()), 30)
    index = front.server.post("/v2/repository/index", {"ready": True}).json()
    assert "broken" not in {row["name"] for row in index}
    # A replica that still had 'broken' in its config would not be ready (a model it is asked
    # to serve has no AVAILABLE version): every answer, from either replica, says ready.
    assert [front.server.get("/v2/health/ready").status_code for _ in range(20)] == [200] * 20
    assert not any(
        front.server.get("/v2/models/broken/ready").status_code == 200 for _ in range(20)
    )


class Load:
    """Threads sending predicts (REST and gRPC by turns) until stopped; every failure is kept."""

    def __init__(self, front: Front, threads: int = 3) -> None:
        self.front = front
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.versions: list[int] = []
        self.done = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        images = _images()
        session = requests.Session()
        url = f"{self.front.server.url}/v1/models/ViT:predict"
        body = {"instances": images.tolist()}
        while not self.stop.is_set():
            try:
                if index % 2:
                    answer = session.post(url, json=body, timeout=30)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{answer.status_code} {answer.text}")
                    version = 0
                else:
                    version = self.front.predict(images).model_spec.version.value
            except Exception as exc:
                with self.lock:
                    self.failures.append(repr(exc))
                continue
            with self.lock:
                self.done += 1
                if version:
                    self.versions.append(version)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_new_version_under_load_reaches_every_replica(front: Front, base_path: Path) -> None:
    staging = base_path.parent / "staging"
    build_onnx_vit(staging, 2, seed=1)
    with Load(front) as load:
        wait_until(lambda: load.done > 10)
        (staging / "2").rename(base_path / "2")
        # Both replicas answer version 2 once 30 gRPC answers in a row say so (Ray spreads
        # requests over both; each answers its own latest version).
        wait_until(lambda: load.versions[-30:] == [2] * 30 and len(load.versions) > 30, 120)
    assert load.failures == []
    answer = front.predict(_images())
    assert answer.model_spec.version.value == 2


def test_a_second_front_end_attaches_to_the_running_replicas(
    front: Front, ray_address: str, tmp_path: Path
) -> None:
    """One front end per node: a second one forwards to the same replicas (its own model flags
    unused) and leaves them running when it stops."""
    replicas = replica_pids()
    second = ServerProcess(
        ["--ray", f"--ray_address={ray_address}", "--model_base_path=/not/used"],
        tmp_path / "second.log",
    )
    try:
        second.wait_ready(timeout=120)
        answer = second.post("/v1/models/ViT:predict", {"instances": _images().tolist()})
        assert answer.status_code == 200, answer.text
        assert "already running" in second.logs()
    finally:
        assert second.stop() == 0, second.logs()
    assert replica_pids() == replicas
    assert front.server.get("/v1/models/ViT").status_code == 200


def test_a_front_end_with_tls_and_a_token_forwards_to_the_replicas(
    front: Front, ray_address: str, tmp_path: Path
) -> None:
    """``--ssl_config_file`` and ``--auth_token_file`` hold on a ``--ray`` front end's ports (it
    attaches to the running replicas, deployed by a front end without a token file): HTTPS and
    TLS gRPC predicts with the token, and without it refused by this front end (REST's public
    health path excepted)."""
    authority = Authority()
    (tmp_path / "ca.pem").write_text(authority.cert)
    ssl_config = tmp_path / "ssl.conf"
    ssl_config.write_text(ssl_config_text(authority.issue("127.0.0.1", server=True)))
    tokens = tmp_path / "tokens"
    tokens.write_text("cluster-token\n")
    grpc_port = free_port()
    secure = ServerProcess(
        [
            *("--ray", f"--ray_address={ray_address}", "--model_base_path=/not/used"),
            *(f"--port={grpc_port}", f"--ssl_config_file={ssl_config}"),
            f"--auth_token_file={tokens}",
        ],
        tmp_path / "secure.log",
        tls={"verify": str(tmp_path / "ca.pem")},
    )
    try:
        secure.wait_ready(timeout=120)
        images = _images()
        body = {"instances": images.tolist()}
        refused = secure.post("/v1/models/ViT:predict", body)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer <token>" in refused.json()["error"]
        bearer = {"Authorization": "Bearer cluster-token"}
        rest = secure.post("/v1/models/ViT:predict", body, headers=bearer)
        assert rest.status_code == 200, rest.text
        assert secure.get("/v2/health/live").status_code == 200
        credentials = grpc.ssl_channel_credentials(root_certificates=authority.cert.encode())
        with grpc.secure_channel(f"127.0.0.1:{grpc_port}", credentials) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "ViT"
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
            token = [("authorization", "Bearer cluster-token")]
            answer = stub.Predict(request, metadata=token, timeout=30)
            np.testing.assert_allclose(
                tf.make_ndarray(answer.outputs["probabilities"]),
                rest.json()["predictions"],
                atol=1e-6,
            )
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(request, timeout=30)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        assert secure.stop() == 0, secure.logs()


def test_a_replica_killed_under_load_fails_no_request(front: Front) -> None:
    victim, *others = replica_pids()
    assert others
    with Load(front) as load:
        wait_until(lambda: load.done > 10)
        os.kill(victim, signal.SIGKILL)
        served = load.done
        wait_until(lambda: load.done > served + 30, 120)
    assert load.failures == []
    # Ray starts a replica in the dead one's place, which loads the models again, as the last
    # config reload left them, before it is routed to.
    wait_until(lambda: len(replica_pids()) == 2 and victim not in replica_pids(), 120)
    wait_until(lambda: all(_available(front, "ViT2") for _ in range(10)), 120)
    assert front.predict(_images()).model_spec.version.value >= 1
