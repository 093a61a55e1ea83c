"""TLS for both ports, from TensorFlow Serving's ``SSLConfig`` (``--ssl_config_file``).

``TlsOptions`` holds the config's PEM strings. :func:`grpc_server_credentials` makes them the gRPC
port's (and socket's) credentials as TensorFlow Serving's server.cc does: the key and certificate
chain, ``custom_ca`` as the root certificates, and with ``client_verify`` a client certificate
signed by ``custom_ca`` required and verified (otherwise none is asked for).
:func:`server_ssl_context` makes the same for the REST port, which TensorFlow Serving cannot serve
over HTTPS: an ``ssl.SSLContext`` for ``loop.create_server``, TLS 1.2 or later, ALPN ``http/1.1``.

:class:`ServerTls` checks the options and builds both once, at start-up: ``shiba.config`` builds
it while reading the file (so a bad file is refused before anything listens) and the listeners
take its context and credentials. Each raises :class:`TlsError` naming the ``SSLConfig`` field at
fault (a certificate that is not PEM, a key that does not match the certificate,
``client_verify`` without ``custom_ca``).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass

import grpc

__all__ = [
    "ServerTls",
    "TlsError",
    "TlsOptions",
    "grpc_server_credentials",
    "server_ssl_context",
]


class TlsError(ValueError):
    """The ``SSLConfig`` cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """``SSLConfig``'s fields (PEM text) and ``rest``: whether the REST port serves HTTPS too
    (shiba's ``--rest_api_tls``). ``repr`` leaves the private key out."""

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False
    rest: bool = True

    def __repr__(self) -> str:
        return f"TlsOptions(client_verify={self.client_verify}, rest={self.rest})"


def _check_certificates(pem: str, field: str) -> None:
    """``pem`` holds one or more PEM certificates (and nothing that pretends to be one)."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise TlsError(f"{field}: expected PEM certificates (-----BEGIN CERTIFICATE-----)")
    scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        scratch.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsError(f"{field}: not a valid PEM certificate ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _check_fields(options: TlsOptions) -> None:
    """Raises ``TlsError`` naming the field the options lack or hold unusable PEM text in."""
    if not options.server_key.strip():
        raise TlsError("server_key is missing: give the server's private key as inline PEM text")
    if not options.server_cert.strip():
        raise TlsError("server_cert is missing: give the server's certificate as inline PEM text")
    if "PRIVATE KEY-----" not in options.server_key:
        raise TlsError("server_key: expected a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    _check_certificates(options.server_cert, "server_cert")
    if options.custom_ca.strip():
        _check_certificates(options.custom_ca, "custom_ca")
    elif options.client_verify:
        raise TlsError(
            "client_verify: true needs custom_ca, the CA certificate(s) that sign client"
            " certificates"
        )


def server_ssl_context(options: TlsOptions) -> ssl.SSLContext:
    """The REST port's TLS context; raises ``TlsError`` if the key does not fit the certificate.

    The key and certificate pass through a private temporary directory (``ssl`` loads a chain only
    from files), removed before this returns.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="shiba-tls-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, text in ((cert_path, options.server_cert), (key_path, options.server_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise TlsError("server_key does not match server_cert") from None
            raise TlsError(
                f"server_key: not a usable PEM private key for server_cert ({_reason(exc)})"
            ) from None
    if options.client_verify:
        context.load_verify_locations(cadata=options.custom_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def grpc_server_credentials(options: TlsOptions) -> grpc.ServerCredentials:
    """The gRPC port's credentials, as TensorFlow Serving builds them from its ``SSLConfig``."""
    return grpc.ssl_server_credentials(
        [(options.server_key.encode(), options.server_cert.encode())],
        root_certificates=options.custom_ca.encode() if options.custom_ca else None,
        require_client_auth=options.client_verify,
    )


class ServerTls:
    """The TLS a server serves, built once from ``options`` (checked first; ``TlsError`` names
    the field at fault): ``grpc_credentials`` for the gRPC port and socket, ``ssl_context`` for
    the REST port (``None`` when ``options.rest`` is false: it serves plain HTTP; the context is
    still built, to refuse a key that does not match the certificate).

    It pickles as its options and is built again where it is unpickled (a Ray replica receives
    the server's settings so; an ``SSLContext`` does not pickle). ``repr`` leaves the key out.
    """

    __slots__ = ("grpc_credentials", "options", "ssl_context")

    def __init__(self, options: TlsOptions) -> None:
        _check_fields(options)
        context = server_ssl_context(options)
        self.options = options
        self.ssl_context: ssl.SSLContext | None = context if options.rest else None
        self.grpc_credentials: grpc.ServerCredentials = grpc_server_credentials(options)

    def __repr__(self) -> str:
        return f"ServerTls({self.options!r})"

    def __reduce__(self) -> tuple[type[ServerTls], tuple[TlsOptions]]:
        return (ServerTls, (self.options,))
