from __future__ import annotations

import pytest

from shiba.config._textproto import Message, TextFormatError, parse
from tests.conftest import TFSERVING_TESTDATA


def test_tf_serving_model_config() -> None:
    message = parse((TFSERVING_TESTDATA / "good_model_config.txt").read_text())
    (model_list,) = message.fields["model_config_list"]
    assert isinstance(model_list, Message)
    names = [c.fields["name"][0] for c in model_list.fields["config"] if isinstance(c, Message)]
    assert names == ["half_plus_two", "half_plus_three"]


def test_scalars_lists_strings_and_comments() -> None:
    message = parse(
        """
        # a comment
        a: [1, 2, 0x10]
        b < key: "x" value: 3 >
        c: "a" 'b\\n'
        d: -1.5e3 e: true; f: ENUM_VALUE, g: {}
        """
    )
    assert message.fields["a"] == [1, 2, 16]
    assert message.fields["b"] == [Message({"key": ["x"], "value": [3]})]
    assert message.fields["c"] == ["ab\n"]
    assert message.fields["d"] == [-1500.0]
    assert message.fields["e"] == [True]
    assert message.fields["f"] == ["ENUM_VALUE"]
    assert message.fields["g"] == [Message()]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ((TFSERVING_TESTDATA / "bad_model_config.txt").read_text(), "line 1"),
        ("a {\n b: 1\n", "line 2"),
        ("a: \n\n @", "line 3"),
        ("a: }", "line 1"),
        ('a: "unterminated', "line 1"),
    ],
)
def test_errors_name_the_line(text: str, line: str) -> None:
    with pytest.raises(TextFormatError, match=line):
        parse(text)
