from __future__ import annotations

from pathlib import Path

import pytest

from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.monitoring import monitoring_options_from_file, monitoring_options_from_text
from shiba.config.settings import settings_from_flags
from shiba.protocols.options import PROMETHEUS_PATH, MonitoringOptions
from tests.conftest import TFSERVING_TESTDATA


def test_tf_serving_monitoring_file() -> None:
    options = monitoring_options_from_file(TFSERVING_TESTDATA / "monitoring_config.txt")
    assert options == MonitoringOptions(enabled=True, path="/monitoring/prometheus/metrics")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'prometheus_config { enable: true path: "/metrics" }',
            MonitoringOptions(True, "/metrics"),
        ),
        ("prometheus_config { enable: true }", MonitoringOptions(True, PROMETHEUS_PATH)),
        ('prometheus_config { enable: true path: "" }', MonitoringOptions(True, PROMETHEUS_PATH)),
        ("prometheus_config < enable: 1 >", MonitoringOptions(True, PROMETHEUS_PATH)),
        ('prometheus_config { enable: false path: "/m" }', MonitoringOptions(False, "/m")),
        ("prometheus_config { enable: 0 }", MonitoringOptions()),
        ("prometheus_config {}", MonitoringOptions()),
        ("# monitoring is off\n", MonitoringOptions()),
        ("", MonitoringOptions()),
    ],
)
def test_what_a_config_turns_on(text: str, expected: MonitoringOptions) -> None:
    assert monitoring_options_from_text(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus_config {\n  enable: true\n  port: 9\n}", "cfg: line 3: unknown field 'port'"),
        ("enable: true", "cfg: line 1: unknown field 'enable' in MonitoringConfig"),
        (
            "prometheus_config { enable: true }\nprometheus_config { enable: false }",
            "cfg: line 2: prometheus_config is given 2 times",
        ),
        ("prometheus_config {\n enable: true\n enable: true }", "cfg: line 3: enable is given"),
        ("prometheus_config: true", "cfg: line 1: prometheus_config takes a { ... } block"),
        ("prometheus_config {\n\n enable: yes }", "cfg: line 3: enable must be true or false"),
        ("prometheus_config { enable: 2 }", "enable must be true or false, got 2"),
        ("prometheus_config { path: 7 }", "cfg: line 1: path must be a quoted string"),
        ('prometheus_config { path: "metrics" }', 'path must start with "/"'),
        ("prometheus_config {\n enable: true", "cfg: line 2: unexpected end of file"),
    ],
)
def test_bad_configs_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        monitoring_options_from_text(text, "cfg")
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read --monitoring_config_file .*missing"):
        monitoring_options_from_file(tmp_path / "missing")


def test_settings_carry_the_options(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.config"
    path.write_text('prometheus_config: { enable: true, path: "/prom" }\n')
    flags = ["--model_base_path=/models/m", f"--monitoring_config_file={path}"]
    settings = settings_from_flags(parse_flags(flags))
    assert settings.monitoring == MonitoringOptions(enabled=True, path="/prom")
    assert settings.warnings == ()
    without = settings_from_flags(parse_flags(["--model_base_path=/models/m"]))
    assert without.monitoring == MonitoringOptions(enabled=False)
    grpc_only = settings_from_flags(parse_flags([*flags, "--rest_api_port=0", "--port=8500"]))
    assert any("--rest_api_port=0" in warning for warning in grpc_only.warnings)
    with pytest.raises(ConfigError, match="cannot read --monitoring_config_file"):
        settings_from_flags(parse_flags([*flags[:1], f"--monitoring_config_file={tmp_path}/x"]))
