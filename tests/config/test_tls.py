"""``--ssl_config_file``: TensorFlow Serving's SSLConfig, and every way it can be wrong."""

from __future__ import annotations

import pickle
import ssl
from pathlib import Path

import grpc
import pytest

from shiba.cli.main import main
from shiba.config.errors import ConfigError
from shiba.config.flags import parse_flags
from shiba.config.settings import settings_from_flags
from shiba.config.tls import server_tls_from_file, server_tls_from_text
from shiba.protocols import tls as tls_module
from tests._tls import Authority, ssl_config_text


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority()


def test_a_good_config(ca: Authority) -> None:
    server = ca.issue("127.0.0.1", server=True)
    tls = server_tls_from_text(ssl_config_text(server, ca.cert, client_verify=True))
    options = tls.options
    assert (options.server_key, options.server_cert) == (server.key, server.cert)
    assert options.custom_ca == ca.cert
    assert options.client_verify and options.rest
    assert "PRIVATE" not in repr(options) and "PRIVATE" not in repr(tls)
    assert tls.ssl_context is not None and tls.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert isinstance(tls.grpc_credentials, grpc.ServerCredentials)
    plain = server_tls_from_text(ssl_config_text(server), rest=False)
    assert not plain.options.client_verify and not plain.options.rest
    assert plain.options.custom_ca == "" and plain.ssl_context is None


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        server_tls_from_text(text, "ssl.conf")
    return str(info.value)


def test_bad_configs_name_the_field(ca: Authority) -> None:
    server = ca.issue("127.0.0.1", server=True)
    other = ca.issue("other", server=True)
    good = ssl_config_text(server)
    assert "server_key is missing" in _error(good.splitlines()[1])
    assert "server_cert is missing" in _error(good.splitlines()[0])
    assert _error(good + "certificate_chain: 'x'\n").startswith("ssl.conf: line 3, column 1: ")
    assert 'no field named "certificate_chain"' in _error(good + "certificate_chain: 'x'\n")
    assert "line 1" in _error("server_key {")
    wrong_pem = good.replace(server.cert.splitlines()[1][:20], "AAAA")
    assert "server_cert: not a valid PEM certificate" in _error(wrong_pem)
    assert "server_cert: expected PEM certificates" in _error(
        ssl_config_text(type(server)(server.key, "not a certificate"))
    )
    assert "server_key: expected a PEM private key" in _error(
        ssl_config_text(type(server)("not a key", server.cert))
    )
    assert "server_key does not match server_cert" in _error(
        ssl_config_text(type(server)(other.key, server.cert))
    )
    assert "client_verify: true needs custom_ca" in _error(ssl_config_text(server, "", True))
    assert "custom_ca: expected PEM certificates" in _error(ssl_config_text(server, "junk"))
    assert server.key.splitlines()[1] not in _error(
        ssl_config_text(type(server)(other.key, server.cert))
    )


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --ssl_config_file"):
        server_tls_from_file(tmp_path / "nope.conf")


def test_settings_and_flags(tmp_path: Path, ca: Authority) -> None:
    path = tmp_path / "ssl.conf"
    path.write_text(ssl_config_text(ca.issue("127.0.0.1", server=True)))
    flags = ["--model_base_path=/m", f"--ssl_config_file={path}"]
    settings = settings_from_flags(parse_flags(flags), environ={})
    assert settings.tls is not None and settings.tls.options.rest
    off = settings_from_flags(parse_flags([*flags, "--rest_api_tls=false"]), environ={})
    assert off.tls is not None and not off.tls.options.rest
    assert settings_from_flags(parse_flags(flags[:1]), environ={}).tls is None


def test_the_context_is_built_once_and_the_settings_still_pickle(
    tmp_path: Path, ca: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings_from_flags builds the context (refusing a bad file); the listeners take it from
    the settings, and a Ray replica, which gets the settings by pickle, builds its own."""
    built: list[object] = []
    real = tls_module.server_ssl_context

    def counting(options: tls_module.TlsOptions) -> ssl.SSLContext:
        built.append(options)
        return real(options)

    monkeypatch.setattr(tls_module, "server_ssl_context", counting)
    path = tmp_path / "ssl.conf"
    path.write_text(ssl_config_text(ca.issue("127.0.0.1", server=True)))
    flags = ["--model_base_path=/m", f"--ssl_config_file={path}"]
    settings = settings_from_flags(parse_flags(flags), environ={})
    assert settings.tls is not None and len(built) == 1
    copy = pickle.loads(pickle.dumps(settings))
    assert copy.tls is not None and copy.tls.options == settings.tls.options
    assert copy.tls.ssl_context is not None and copy.tls.ssl_context is not settings.tls.ssl_context


def test_a_bad_file_is_a_start_up_error_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ssl.conf"
    path.write_text('server_key: "x"\nclient_verify: maybe\n')
    assert main(["serve", "--model_base_path=/m", f"--ssl_config_file={path}"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "line 2" in err and "client_verify" in err
