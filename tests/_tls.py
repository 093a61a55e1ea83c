"""Certificates for the TLS tests, made with ``cryptography``: a CA, a server certificate for
127.0.0.1/localhost, client certificates, and TensorFlow Serving's ``SSLConfig`` text for them."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pair", "Authority", "ssl_config_text", "write_pems"]


@dataclass(frozen=True, slots=True)
class Pair:
    """A PEM private key and its PEM certificate."""

    key: str
    cert: str


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Authority:
    """A self-signed CA that issues server and client certificates."""

    def __init__(self, name: str = "shiba test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._name = subject
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = self._cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, *, server: bool) -> Pair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        return Pair(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM).decode())


def _quoted(pem: str) -> str:
    return '"' + pem.replace("\n", "\\n") + '"'


def ssl_config_text(server: Pair, custom_ca: str = "", client_verify: bool = False) -> str:
    """An ``SSLConfig`` in text format, PEM strings inline, as TensorFlow Serving's docs write it."""
    lines = [f"server_key: {_quoted(server.key)}", f"server_cert: {_quoted(server.cert)}"]
    if custom_ca:
        lines.append(f"custom_ca: {_quoted(custom_ca)}")
    if client_verify:
        lines.append("client_verify: true")
    return "\n".join(lines) + "\n"


def write_pems(folder: Path, name: str, pair: Pair) -> tuple[str, str]:
    """Writes ``pair`` as ``name.crt`` and ``name.key`` (for ``requests``' ``cert=``)."""
    cert = folder / f"{name}.crt"
    key = folder / f"{name}.key"
    cert.write_text(pair.cert)
    key.write_text(pair.key)
    return str(cert), str(key)
