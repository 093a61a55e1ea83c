"""``--ssl_config_file``: TensorFlow Serving's text-format ``SSLConfig`` -> ``TlsOptions``.

The file is read as TensorFlow Serving reads it, with protobuf's text format against the
``SSLConfig`` message (``server_key``, ``server_cert``, ``custom_ca``: inline PEM strings;
``client_verify``: a bool), and its TLS is built (``ServerTls``: the REST port's context and the
gRPC port's credentials, once for the server's life)::

    server_key: "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"
    server_cert: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"
    custom_ca: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"
    client_verify: true

An unknown field, a syntax error, a missing key or certificate, PEM text that does not parse, a key
that does not match the certificate, or ``client_verify`` without ``custom_ca`` is a
``ConfigError`` naming the file and the field (and the line where the parser can tell). The key's
text never appears in a message.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from shiba._proto import SSLConfig
from shiba.config.errors import ConfigError, read_config_file
from shiba.protocols.tls import ServerTls, TlsError, TlsOptions

__all__ = ["server_tls_from_file", "server_tls_from_text"]


def server_tls_from_text(text: str, where: str = "SSL config", *, rest: bool = True) -> ServerTls:
    """Parses an ``SSLConfig`` and builds its TLS; ``where`` (the file) starts every error
    message."""
    config = SSLConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        line, column = exc.GetLine(), exc.GetColumn()
        place = f"line {line}, column {column}: " if line else ""
        message = str(exc).split(" : ", 1)[-1]
        raise ConfigError(f"{where}: {place}{message}") from None
    options = TlsOptions(
        server_key=config.server_key,
        server_cert=config.server_cert,
        custom_ca=config.custom_ca,
        client_verify=config.client_verify,
        rest=rest,
    )
    try:
        return ServerTls(options)
    except TlsError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def server_tls_from_file(path: Path, *, rest: bool = True) -> ServerTls:
    """Reads ``path`` and parses it; a file that cannot be read or is not UTF-8
    text is a ``ConfigError`` too."""
    text = read_config_file(path, "ssl_config_file")
    return server_tls_from_text(text, str(path), rest=rest)
