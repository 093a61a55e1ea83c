from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shiba.config.flags import FLAGS, parse_flags
from shiba.config.settings import ConfigError, settings_from_flags


def test_defaults_are_tensorflow_servings() -> None:
    flags = parse_flags([])
    assert flags["port"] == 8500
    assert flags["rest_api_port"] == 8501
    assert flags["model_name"] == "default"
    assert flags["file_system_poll_wait_seconds"] == 1
    assert flags["rest_api_timeout_in_ms"] == 30000
    assert flags["max_num_load_retries"] == 5
    assert flags["enable_batching"] is False
    assert flags.given == frozenset()


def test_both_spellings_and_booleans() -> None:
    flags = parse_flags(
        [
            "--model_name=ViT",
            "--model_base_path",
            "/models/ViT",
            "--rest_api_enable_cors_support",
            "--rest_api_port=9000",
        ]
    )
    assert flags["model_name"] == "ViT"
    assert flags["model_base_path"] == "/models/ViT"
    assert flags["rest_api_enable_cors_support"] is True
    assert flags["rest_api_port"] == 9000
    assert (
        parse_flags(["--rest_api_enable_cors_support=false"])["rest_api_enable_cors_support"]
        is False
    )
    assert (
        parse_flags(["--rest_api_enable_cors_support=TRUE"])["rest_api_enable_cors_support"] is True
    )


def test_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_flags(["--no_such_flag=1"])
    assert exc.value.code == 2
    assert "--no_such_flag" in capsys.readouterr().err


def test_bad_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_flags(["--rest_api_port=abc"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parse_flags(["--rest_api_enable_cors_support=maybe"])


@pytest.mark.parametrize("flag", [f for f in FLAGS if f.support is not True])
def test_unsupported_flags_fail_clearly_unless_at_default(
    flag: object, capsys: pytest.CaptureFixture[str]
) -> None:
    name = flag.name  # type: ignore[attr-defined]
    kind = flag.type  # type: ignore[attr-defined]
    default = flag.default  # type: ignore[attr-defined]
    other = {"int": "12345", "str": "/some/file", "bool": str(not default).lower(), "float": "0.5"}[
        kind
    ]
    with pytest.raises(SystemExit) as exc:
        parse_flags([f"--{name}={other}"])
    assert exc.value.code == 2
    assert flag.support in capsys.readouterr().err  # type: ignore[attr-defined]
    value = str(default).lower() if kind == "bool" else str(default)
    parse_flags([f"--{name}={value}"])  # the default itself is fine


def test_model_from_flags() -> None:
    settings = settings_from_flags(
        parse_flags(["--model_name=ViT", "--model_base_path=/srv/ViT"]), environ={}
    )
    (model,) = settings.models
    assert model.name == "ViT"
    assert model.base_path == Path("/srv/ViT")


def test_model_from_environment_like_the_container() -> None:
    settings = settings_from_flags(
        parse_flags([]), environ={"MODEL_NAME": "ViT", "MODEL_BASE_PATH": "/data"}
    )
    (model,) = settings.models
    assert (model.name, model.base_path) == ("ViT", Path("/data/ViT"))
    settings = settings_from_flags(parse_flags([]), environ={})
    assert (settings.models[0].name, settings.models[0].base_path) == (
        "model",
        Path("/models/model"),
    )


def test_a_model_repository_alone_serves_nothing_at_start(tmp_path: Path) -> None:
    alone = settings_from_flags(parse_flags([f"--model_repository={tmp_path}"]), environ={})
    assert alone.models == ()
    assert alone.model_repository == tmp_path
    beside = settings_from_flags(
        parse_flags([f"--model_repository={tmp_path}", "--model_name=m"]), environ={}
    )
    assert [m.name for m in beside.models] == ["m"]
    from_env = settings_from_flags(
        parse_flags([f"--model_repository={tmp_path}"]), environ={"MODEL_NAME": "e"}
    )
    assert [m.name for m in from_env.models] == ["e"]
    assert settings_from_flags(parse_flags([]), environ={}).model_repository is None
    with pytest.raises(ConfigError, match="is not a folder"):
        settings_from_flags(parse_flags([f"--model_repository={tmp_path / 'x'}"]), environ={})


def test_options_from_flags() -> None:
    settings = settings_from_flags(
        parse_flags(
            [
                "--model_base_path=/m",
                "--rest_api_timeout_in_ms=1500",
                "--rest_api_num_threads=3",
                "--load_retry_interval_micros=2000000",
                "--max_num_load_retries=1",
                "--tensorflow_intra_op_parallelism=2",
                "--file_system_poll_wait_seconds=0",
            ]
        ),
        environ={},
    )
    assert settings.rest.timeout_seconds == 1.5
    assert settings.service.num_threads == 3
    assert settings.manager.load_retry_interval_seconds == 2.0
    assert settings.manager.max_num_load_retries == 1
    assert settings.runtime.intra_op_threads == 2
    assert settings.file_system_poll_seconds == 0


def test_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="turn both APIs off"):
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--rest_api_port=0", "--port=0"]), environ={}
        )
    with pytest.raises(ConfigError, match="give two ports"):
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--rest_api_port=9000", "--port=9000"]),
            environ={},
        )
    with pytest.raises(ConfigError, match="expected key=value"):
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--grpc_channel_arguments=oops"]), environ={}
        )


def test_grpc_settings() -> None:
    settings = settings_from_flags(
        parse_flags(
            [
                "--model_base_path=/m",
                "--port=9001",
                "--grpc_socket_path=/tmp/s.sock",
                "--grpc_channel_arguments=grpc.max_receive_message_length=1024,grpc.lb=x",
                "--grpc_max_threads=3",
                "--enable_serialization_as_tensor_content",
            ]
        ),
        environ={},
    )
    assert settings.grpc_port == 9001
    assert settings.grpc_socket_path == "/tmp/s.sock"
    assert settings.grpc.channel_arguments == (
        ("grpc.max_receive_message_length", 1024),
        ("grpc.lb", "x"),
    )
    assert settings.grpc.tensor_content_outputs is True
    assert settings.grpc_max_concurrent_rpcs == 3
    default = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert default.grpc_max_concurrent_rpcs is None
    with pytest.raises(ConfigError, match="negative"):
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--file_system_poll_wait_seconds=-1"]), environ={}
        )


def test_warmup_flags() -> None:
    default = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert (default.warmup.enabled, default.warmup.iterations) == (True, 1)
    settings = settings_from_flags(
        parse_flags(
            [
                "--model_base_path=/m",
                "--enable_model_warmup=false",
                "--num_request_iterations_for_warmup=3",
            ]
        ),
        environ={},
    )
    assert (settings.warmup.enabled, settings.warmup.iterations) == (False, 3)
    # TF Serving uses the count only when it is > 0.
    for value in ("0", "-2"):
        flags = parse_flags(
            ["--model_base_path=/m", f"--num_request_iterations_for_warmup={value}"]
        )
        assert settings_from_flags(flags, environ={}).warmup.iterations == 1


def test_engine_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert (default.tensorflow_engine, default.onnx_engine) == ("auto", "auto")
    flags = ["--model_base_path=/m", "--tensorflow_engine=tensorflow", "--onnx_engine=onnxruntime"]
    settings = settings_from_flags(parse_flags(flags), environ={})
    assert (settings.tensorflow_engine, settings.onnx_engine) == ("tensorflow", "onnxruntime")
    # each flag takes its own platform's engine
    for value in ("gpu", "tensorflow"):
        with pytest.raises(ConfigError) as caught:
            settings_from_flags(
                parse_flags(["--model_base_path=/m", f"--onnx_engine={value}"]), environ={}
            )
        assert str(caught.value) == (
            f"--onnx_engine must be auto, onnxruntime or openvino, got {value!r}"
        )
    with pytest.raises(ConfigError, match="--tensorflow_engine must be auto, tensorflow or"):
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--tensorflow_engine=onnxruntime"]), environ={}
        )
    assert default.torch_engine == "auto"
    flags = ["--model_base_path=/m", "--torch_engine=torch"]
    assert settings_from_flags(parse_flags(flags), environ={}).torch_engine == "torch"
    with pytest.raises(ConfigError) as caught:
        settings_from_flags(
            parse_flags(["--model_base_path=/m", "--torch_engine=pytorch"]), environ={}
        )
    assert str(caught.value) == "--torch_engine must be auto, torch or openvino, got 'pytorch'"
    # Without the openvino package, forcing it is an error naming the package; auto is not.
    monkeypatch.setitem(sys.modules, "openvino", None)
    for name in ("tensorflow_engine", "onnx_engine", "torch_engine"):
        with pytest.raises(ConfigError) as caught:
            settings_from_flags(
                parse_flags(["--model_base_path=/m", f"--{name}=openvino"]), environ={}
            )
        assert str(caught.value) == (
            f"--{name}=openvino needs OpenVINO: pip install 'shiba[openvino]'"
        )
    assert settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={}).onnx_engine == (
        "auto"
    )


def test_ray_flags() -> None:
    plain = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert plain.ray is None
    settings = settings_from_flags(
        parse_flags(["--model_base_path=/m", "--ray", "--num_replicas", "3"]), environ={}
    )
    assert settings.ray is not None
    assert (settings.ray.address, settings.ray.num_replicas) == ("auto", 3)
    auto = settings_from_flags(
        parse_flags(["--model_base_path=/m", "--ray", "--num_replicas=auto", "--ray_address=h:1"]),
        environ={},
    )
    assert auto.ray is not None
    assert (auto.ray.address, auto.ray.num_replicas) == ("h:1", None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num_replicas=2"], "--num_replicas needs --ray"),
        (["--ray_address=h:1"], "--ray_address needs --ray"),
        (["--ray", "--num_replicas=0"], "--num_replicas must be a positive number or auto"),
        (["--ray", "--num_replicas=many"], "--num_replicas must be a positive number or auto"),
    ],
)
def test_invalid_ray_flags(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_flags(parse_flags(["--model_base_path=/m", *argv]), environ={})


def test_only_gpu_and_alts_flags_are_refused() -> None:
    """Every TF Serving flag is honoured but those that need a GPU or Google Cloud's ALTS."""
    refused = {f.name for f in FLAGS if f.support is not True}
    assert refused == {"per_process_gpu_memory_fraction", "use_alts_credentials"}


def test_saved_model_tags_and_method_name_check() -> None:
    settings = settings_from_flags(
        parse_flags(
            [
                "--model_base_path=/m",
                "--saved_model_tags=serve, gpu,",
                "--enable_signature_method_name_check",
            ]
        ),
        environ={},
    )
    assert settings.runtime.saved_model_tags == frozenset({"serve", "gpu"})
    assert settings.service.check_method_name
    default = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert default.runtime.saved_model_tags == frozenset({"serve"})
    assert not default.service.check_method_name
    with pytest.raises(ConfigError, match="--saved_model_tags must name at least one tag"):
        settings_from_flags(parse_flags(["--model_base_path=/m", "--saved_model_tags=,"]), {})
