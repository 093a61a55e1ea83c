from __future__ import annotations

from pathlib import Path

import pytest

from shiba.batching import BatchingOptions
from shiba.config.batching import batching_options_from_file, batching_options_from_text
from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.settings import settings_from_flags
from tests.conftest import TFSERVING_TESTDATA


def test_tf_serving_batching_file() -> None:
    options = batching_options_from_file(TFSERVING_TESTDATA / "batching_config.txt")
    assert options == BatchingOptions(
        max_batch_size=128,
        batch_timeout_micros=0,
        max_enqueued_batches=1000000,
        num_batch_threads=8,
    )


def test_allowed_sizes_and_padding() -> None:
    options = batching_options_from_text(
        "max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 8 "
        "pad_variable_length_inputs: true"
    )
    assert options.allowed_batch_sizes == (2, 8)
    assert options.pad_variable_length_inputs is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "Last entry in allowed_batch_sizes"),
        ("max_batch_size { value: x }", "must be an integer"),
        ("bogus: 1", "unknown field 'bogus'"),
        ("thread_pool_name { value: 'x' }", "not supported yet"),
        ("max_batch_size {", "line 1"),
    ],
)
def test_bad_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        batching_options_from_text(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --batching_parameters_file"):
        batching_options_from_file(tmp_path / "nope.txt")


def test_flags() -> None:
    off = settings_from_flags(parse_flags(["--model_base_path=/m"]), environ={})
    assert off.batching is None
    on = settings_from_flags(parse_flags(["--model_base_path=/m", "--enable_batching"]), environ={})
    assert on.batching == BatchingOptions()
    ignored = settings_from_flags(
        parse_flags(["--model_base_path=/m", f"--batching_parameters_file={TFSERVING_TESTDATA}/x"]),
        environ={},
    )
    assert ignored.batching is None
    assert "ignored without --enable_batching" in ignored.warnings[0]
