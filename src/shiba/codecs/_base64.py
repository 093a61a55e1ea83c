"""``{"b64": ...}`` values: recognising them and decoding them as TensorFlow Serving does."""

from __future__ import annotations

import binascii
import re

from shiba.codecs._rapidjson import utf8

__all__ = ["absl_base64_decode", "is_base64_object"]

# absl::ascii_isspace: space, \t, \n, \v, \f and \r.
_SPACE = re.compile(rb"[ \t\n\v\f\r]+")
_BODY = re.compile(rb"([A-Za-z0-9+/]*)([=.]*)")
# Pad characters a final group of 0, 2 or 3 symbols may carry (a group of 1 is never valid).
_EXPECTED_PADS = {0: 0, 2: 2, 3: 1}


def is_base64_object(value: object) -> bool:
    """json_tensor.cc's ``IsValBase64Object``: an object whose only key is ``b64``, a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def absl_base64_decode(text: str) -> bytes | None:
    """``absl::Base64Unescape``: the decoded bytes, or ``None`` where absl refuses the text.

    absl skips ASCII whitespace anywhere, takes ``=`` or ``.`` as padding, accepts a final group
    either unpadded or padded exactly, ignores stray low bits, and refuses any other character.
    """
    data = _SPACE.sub(b"", utf8(text))
    match = _BODY.fullmatch(data)
    if match is None:
        return None
    body, pads = match.groups()
    expected = _EXPECTED_PADS.get(len(body) % 4)
    if expected is None or len(pads) not in (0, expected):
        return None
    return binascii.a2b_base64(body + b"=" * expected)
