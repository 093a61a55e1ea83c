from __future__ import annotations

from pathlib import Path

import pytest

from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.model_config import model_config_text, model_configs_from_text
from shiba.config.settings import settings_from_flags
from shiba.core.lifecycle.source import ModelConfig
from shiba.core.lifecycle.version_policy import All, Latest, Specific
from tests.conftest import TFSERVING_TESTDATA


def test_tf_serving_good_config() -> None:
    settings = settings_from_flags(
        parse_flags([f"--model_config_file={TFSERVING_TESTDATA / 'good_model_config.txt'}"]),
        environ={},
    )
    assert [m.name for m in settings.models] == ["half_plus_two", "half_plus_three"]
    assert settings.models[0].platform == "tensorflow"
    assert settings.model_config_text is not None


def test_policies_and_labels() -> None:
    (a, b, c) = model_configs_from_text(
        """
        model_config_list {
          config { name: "a" base_path: "/a" model_version_policy { all {} } }
          config {
            name: "b" base_path: "/b" model_platform: "onnx"
            model_version_policy { specific { versions: 1 versions: 3 } }
            version_labels { key: "stable" value: 1 }
            version_labels { key: "canary" value: 3 }
          }
          config { name: "c" base_path: "/c" model_version_policy { latest { num_versions: 2 } } }
        }
        """
    )
    assert a.version_policy == All() and a.base_path == Path("/a")
    assert b.version_policy == Specific(frozenset({1, 3}))
    assert b.version_labels == {"stable": 1, "canary": 3}
    assert b.platform == "onnx"
    assert c.version_policy == Latest(2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ((TFSERVING_TESTDATA / "bad_model_config.txt").read_text(), "line 1"),
        ('model_config_list { config { base_path: "/a" } }', "name is missing"),
        ('model_config_list { config { name: "a" } }', "base_path is missing"),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "caffe" } }',
            "model_platform 'caffe'",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" } config { name: "a" base_path: "/b" } }',
            "more than once: a",
        ),
        ('model_config_list { config { name: "a" base_path: "/a" bogus: 1 } }', "unknown field"),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_version_policy { newest {} } } }',
            "unknown model_version_policy",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_version_policy { latest { num_versions: 0 } } } }',
            "at least 1",
        ),
        ("custom_model_config { }", "not supported"),
        ("nonsense: 1", "unknown field"),
    ],
)
def test_bad_configs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model_configs_from_text(text, "cfg")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --model_config_file"):
        settings_from_flags(parse_flags([f"--model_config_file={tmp_path / 'nope'}"]), environ={})


# -- tensorflow_engine: shiba's own field ------------------------------------------------------


def engine_config(engine: str | None) -> str:
    field = "" if engine is None else f"tensorflow_engine: {engine}"
    return f'model_config_list {{ config {{ name: "vit" base_path: "/vit" {field} }} }}'


@pytest.mark.parametrize(
    ("field", "engine"),
    [
        ('"auto"', "auto"),
        ('"tensorflow"', "tensorflow"),
        ('"openvino"', "openvino"),
        ('""', None),  # empty: the server's --tensorflow_engine
        (None, None),
    ],
)
def test_tensorflow_engine_per_model(field: str | None, engine: str | None) -> None:
    (model,) = model_configs_from_text(engine_config(field))
    assert model.engine == engine


@pytest.mark.parametrize("field", ['"gpu"', '"OpenVINO"', "1"])
def test_invalid_tensorflow_engine_names_the_model_and_the_values(field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model_configs_from_text(engine_config(field), "cfg")
    message = str(caught.value)
    assert message.startswith("cfg: model 'vit': tensorflow_engine must ")
    if field != "1":
        assert message == (
            "cfg: model 'vit': tensorflow_engine must be auto, tensorflow or openvino (or empty "
            f"for --tensorflow_engine), got {field.strip(chr(34))!r}"
        )


def test_invalid_tensorflow_engine_stops_the_server_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(engine_config('"gpu"'))
    with pytest.raises(ConfigError, match="model 'vit': tensorflow_engine must be auto"):
        settings_from_flags(parse_flags([f"--model_config_file={path}"]), environ={})


def test_tensorflow_engine_from_a_reload_request() -> None:
    """HandleReloadConfigRequest carries shiba's ModelServerConfig, field 1000 included."""
    from shiba import _proto
    from shiba.config.model_config import model_configs_from_proto

    config = _proto.ModelServerConfig()
    first = config.model_config_list.config.add(name="a", base_path="/a")
    first.tensorflow_engine = "tensorflow"
    config.model_config_list.config.add(name="b", base_path="/b")
    wire = _proto.ModelServerConfig.FromString(config.SerializeToString())
    a, b = model_configs_from_proto(wire)
    assert (a.engine, b.engine) == ("tensorflow", None)
    config.model_config_list.config[1].tensorflow_engine = "cuda"
    with pytest.raises(ConfigError, match="reload request: model 'b': tensorflow_engine must be"):
        model_configs_from_proto(config)


def test_model_config_text_reads_back_as_the_same_models() -> None:
    models = (
        ModelConfig("a", Path("/models/a")),
        ModelConfig(
            "b",
            Path("relative/b"),
            platform="onnx",
            version_policy=All(),
            version_labels={"stable": 2, "canary": 3},
            engine="openvino",
        ),
        ModelConfig("c", Path("/c"), version_policy=Specific(frozenset({3, 1}))),
        ModelConfig("d", Path('/d d/"quoted"'), version_policy=Latest(3)),
    )
    text = model_config_text(models)
    assert model_configs_from_text(text) == models
    assert 'tensorflow_engine: "openvino"' in text
    assert model_configs_from_text(model_config_text(())) == ()
