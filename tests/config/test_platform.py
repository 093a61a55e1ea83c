"""``--platform_config_file``: TF Serving's PlatformConfigMap, what shiba honours and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiba.batching import BatchingOptions
from shiba.cli.main import main
from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.platform import platform_config_from_file, platform_config_from_text
from shiba.config.settings import settings_from_flags

_ADAPTER = "[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig]"


def _config(legacy: str, platform: str = "tensorflow") -> str:
    return (
        "platform_configs {\n"
        f'  key: "{platform}"\n'
        "  value {\n"
        "    source_adapter_config {\n"
        f"      {_ADAPTER} {{\n"
        "        legacy_config {\n"
        f"{legacy}"
        "        }\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


FULL = _config(
    "session_config { intra_op_parallelism_threads: 2 inter_op_parallelism_threads: 3"
    " use_per_session_threads: true }\n"
    "batching_parameters { max_batch_size { value: 16 } batch_timeout_micros { value: 500 } }\n"
    'saved_model_tags: "serve"\nsaved_model_tags: "cpu"\n'
    "enable_model_warmup: true\n"
    "model_warmup_options { num_request_iterations { value: 4 } }\n"
    'session_target: ""\n'
)


def test_what_is_honoured() -> None:
    runtime, batching, warmup = platform_config_from_text(FULL).options()
    assert (runtime.intra_op_threads, runtime.inter_op_threads) == (2, 3)
    assert runtime.use_per_session_threads
    assert runtime.saved_model_tags == frozenset({"serve", "cpu"})
    assert batching == BatchingOptions(max_batch_size=16, batch_timeout_micros=500)
    assert (warmup.enabled, warmup.iterations) == (True, 4)
    runtime, batching, warmup = platform_config_from_text("").options()
    assert batching is None and runtime.saved_model_tags == frozenset({"serve"})
    assert warmup.enabled and warmup.iterations == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_config("session_config { gpu_options { allow_growth: true } }\n"), "gpu_options"),
        (_config('session_target: "grpc://remote:2222"\n'), "session_target must be empty"),
        (_config("prefer_tflite_model: true\n"), "prefer_tflite_model in legacy_config"),
        (_config("", platform="tensorflow_lite"), "platform 'tensorflow_lite' is not supported"),
        (_config("batching_parameters { max_batch_size: 'x' }\n"), "max_batch_size must be"),
        (_config("enable_model_warmup: 3\n"), "enable_model_warmup must be true or false"),
        ("platform_configs { key: 'tensorflow' value { source_adapter_config { x: 1 } } }", "x in"),
        ("model_config_list {}", "model_config_list in PlatformConfigMap is not supported"),
        ("platform_configs {", "unexpected end of file"),
    ],
)
def test_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^platform\.conf: ") as info:
        platform_config_from_text(text, "platform.conf")
    assert message in str(info.value)


def test_the_file_replaces_the_flags_it_covers(tmp_path: Path) -> None:
    path = tmp_path / "platform.conf"
    path.write_text(FULL)
    settings = settings_from_flags(
        parse_flags(
            ["--model_base_path=/m", f"--platform_config_file={path}", "--saved_model_tags=x"]
        ),
        environ={},
    )
    assert settings.batching == BatchingOptions(max_batch_size=16, batch_timeout_micros=500)
    assert settings.runtime.saved_model_tags == frozenset({"serve", "cpu"})
    assert settings.warmup.iterations == 4
    assert any("--saved_model_tags" in w and "ignored" in w for w in settings.warnings)
    with pytest.raises(ConfigError, match="cannot read --platform_config_file"):
        platform_config_from_file(tmp_path / "missing.conf")


@pytest.mark.parametrize(
    ("flag", "text", "message"),
    [
        ("platform_config_file", _config("prefer_tflite_model: true\n"), "prefer_tflite_model"),
        ("auth_token_file", "# no token\n", "holds no token"),
        ("auth_token_file", None, "cannot read --auth_token_file"),
    ],
)
def test_bad_files_are_start_up_errors_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, text: str | None, message: str
) -> None:
    path = tmp_path / "file.conf"
    if text is not None:
        path.write_text(text)
    assert main(["serve", "--model_base_path=/m", f"--{flag}={path}"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_the_flags_it_replaces_are_not_read(tmp_path: Path) -> None:
    """As TF Serving: with the file, a batching file the flags name is not opened, and
    --saved_model_tags is not checked; a warning says they are ignored."""
    path = tmp_path / "platform.conf"
    path.write_text(FULL)
    settings = settings_from_flags(
        parse_flags(
            [
                "--model_base_path=/m",
                f"--platform_config_file={path}",
                "--enable_batching",
                f"--batching_parameters_file={tmp_path / 'missing.conf'}",
                "--saved_model_tags=,",
            ]
        ),
        environ={},
    )
    assert settings.batching == BatchingOptions(max_batch_size=16, batch_timeout_micros=500)
    assert settings.runtime.saved_model_tags == frozenset({"serve", "cpu"})
    assert settings.warnings == (
        "--platform_config_file replaces --batching_parameters_file, --enable_batching,"
        " --saved_model_tags (as in TF Serving); they are ignored",
    )
