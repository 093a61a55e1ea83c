from __future__ import annotations

from pathlib import Path

import pytest

from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.model_config import model_configs_from_text
from shiba.config.settings import settings_from_flags
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
