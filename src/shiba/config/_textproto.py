"""A small reader of protobuf's text format, for TensorFlow Serving's config files.

It parses without a schema into :class:`Message` (field name -> list of values, in order); the
modules that read a particular file (batching parameters, model config) check names and types and
say what is wrong in words a user can act on. Supported: ``name: scalar``, ``name { ... }``,
``name: { ... }``, ``name < ... >``, lists ``name: [a, b]``, separators ``,``/``;``, ``#`` comments,
quoted strings with C escapes (adjacent strings concatenate), numbers, identifiers (enums, true).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shiba.config.errors import ConfigError

__all__ = ["Message", "TextFormatError", "parse", "parse_config"]

Scalar = str | int | float | bool
Value = "Scalar | Message"


class TextFormatError(ValueError):
    """The text is not valid protobuf text format; the message names the line."""


@dataclass(slots=True)
class Message:
    """Field name -> its values in order; ``lines`` has, for each value, the line its field name
    is on (for error messages; not compared)."""

    fields: dict[str, list[Scalar | Message]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def add(self, name: str, value: Scalar | Message, line: int = 0) -> None:
        self.fields.setdefault(name, []).append(value)
        self.lines.setdefault(name, []).append(line)


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*|\[[A-Za-z0-9_./]+\])
  | (?P<punct>[{}<>\[\]:,;])
    """,
    re.VERBOSE,
)
_CLOSE = {"{": "}", "<": ">"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _unquote(text: str, line: int) -> str:
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt.isdigit():
                digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
                assert digits is not None
                out.append(chr(int(digits.group(), 8)))
                i += 1 + len(digits.group())
                continue
            raise TextFormatError(f"line {line}: unknown escape \\{nxt} in string")
        out.append(ch)
        i += 1
    return "".join(out)


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str, int]] = []
        pos, line = 0, 1
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise TextFormatError(f"line {line}: unexpected character {text[pos]!r}")
            kind = match.lastgroup or ""
            if kind != "space":
                self.items.append((kind, match.group(), line))
            line += match.group().count("\n")
            pos = match.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def next(self, what: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            last = self.items[-1][2] if self.items else 1
            raise TextFormatError(f"line {last}: unexpected end of file, expected {what}")
        self.i += 1
        return token

    def accept(self, punct: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "punct" and token[1] == punct:
            self.i += 1
            return True
        return False


def _scalar(tokens: _Tokens) -> Scalar:
    kind, text, line = tokens.next("a value")
    if kind == "string":
        value = _unquote(text, line)
        while (nxt := tokens.peek()) is not None and nxt[0] == "string":
            tokens.i += 1
            value += _unquote(nxt[1], nxt[2])
        return value
    if kind == "number":
        number = text.rstrip("fF") if not text.lower().startswith(("0x", "-0x", "+0x")) else text
        try:
            return (
                int(number, 0)
                if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", number)
                else float(number)
            )
        except ValueError:
            raise TextFormatError(f"line {line}: bad number {text}") from None
    if kind == "ident":
        if text in ("true", "True", "t"):
            return True
        if text in ("false", "False", "f"):
            return False
        return text  # an enum value's name
    raise TextFormatError(f"line {line}: expected a value, found {text!r}")


def _message(tokens: _Tokens, close: str | None) -> Message:
    message = Message()
    while True:
        token = tokens.peek()
        if token is None:
            if close is not None:
                raise TextFormatError(
                    f"line {tokens.items[-1][2]}: unexpected end of file, expected {close!r}"
                )
            return message
        kind, text, line = token
        if kind == "punct" and text == close:
            tokens.i += 1
            return message
        if kind != "ident":
            raise TextFormatError(f"line {line}: expected a field name, found {text!r}")
        tokens.i += 1
        name = text
        colon = tokens.accept(":")
        if tokens.accept("["):
            if not tokens.accept("]"):
                while True:
                    message.add(name, _value(tokens, line), line)
                    if tokens.accept("]"):
                        break
                    if not tokens.accept(","):
                        raise TextFormatError(f"line {line}: expected ',' or ']' in list {name}")
        else:
            nxt = tokens.peek()
            if nxt is not None and nxt[0] == "punct" and nxt[1] in _CLOSE:
                message.add(name, _value(tokens, line), line)
            elif not colon:
                raise TextFormatError(f"line {line}: expected ':' or '{{' after {name}")
            else:
                message.add(name, _scalar(tokens), line)
        tokens.accept(",") or tokens.accept(";")


def _value(tokens: _Tokens, line: int) -> Scalar | Message:
    nxt = tokens.peek()
    if nxt is not None and nxt[0] == "punct" and nxt[1] in _CLOSE:
        tokens.i += 1
        return _message(tokens, _CLOSE[nxt[1]])
    return _scalar(tokens)


def parse(text: str) -> Message:
    """Parses a whole text-format message; raises TextFormatError naming the line."""
    return _message(_Tokens(text), None)


def parse_config(text: str, where: str) -> Message:
    """``parse`` for a config file: its TextFormatError becomes a ``ConfigError`` that starts with
    ``where`` (the file)."""
    try:
        return parse(text)
    except TextFormatError as exc:
        raise ConfigError(f"{where}: {exc}") from None
