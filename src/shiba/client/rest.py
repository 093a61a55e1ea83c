"""TensorFlow Serving's REST API from Python, numpy in and numpy out: :class:`Client` (blocking)
and :class:`AsyncClient` (asyncio), thin shells over ``_rest_core`` with httpx as the transport.

    with Client("http://localhost:8501") as client:
        probabilities = client.predict("ViT", images)["probabilities"]

Both keep one connection pool for their life (close them, or use them as context managers), send
``Authorization: Bearer <token>`` when given a token, verify TLS for an ``https://`` URL (``verify``
may name a CA bundle; ``cert``, a ``(certificate file, key file)`` pair, is the client's certificate
for mutual TLS), and give every call ``timeout`` seconds. A call the server never saw is
tried again up to ``retries`` times; a status or metadata call also after a 502/503/504 answer or
a failure in transit; a predict call the server may have seen is never sent twice. Signatures are
read once per model (version, label) and signature name and kept, so that inputs are cast to the
signature's dtypes and outputs come back named and typed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from abc import abstractmethod
from typing import Any, Generic, TypeVar

import httpx
import numpy.typing as npt

from shiba.client import _rest_core as core
from shiba.client._shell import (
    AsyncKeptSignatures,
    AsyncShell,
    KeptSignatures,
    Remembered,
    SyncShell,
    backoff,
)
from shiba.client._types import ModelMetadata, ModelRef, VersionStatus
from shiba.client.errors import ClientError, ConnectionFailed, TimedOut
from shiba.core.errors import Code
from shiba.core.tensors import DEFAULT_SIGNATURE

__all__ = ["Client", "AsyncClient", "SyncHttp", "AsyncHttp", "DEFAULT_URL", "client_ssl_context"]

T = TypeVar("T")
_Transport = TypeVar("_Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)

DEFAULT_URL = "http://localhost:8501"
#: What one attempt of an exchange ends with: the server's response, or the failure in transit.
_Answer = httpx.Response | httpx.TransportError


def _headers(token: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "user-agent": "shiba-client"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _transport_error(exc: httpx.TransportError, url: str) -> tuple[ClientError, bool]:
    """The client error for a failed exchange, and whether the request may have been sent."""
    if isinstance(exc, httpx.TimeoutException):
        sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
        return TimedOut(f"no answer from {url} in time ({type(exc).__name__})"), sent
    if isinstance(exc, httpx.ConnectError):
        return ConnectionFailed(f"cannot connect to {url}: {exc}"), False
    return ConnectionFailed(f"the connection to {url} failed: {exc!r}"), True


def client_ssl_context(verify: bool | str, cert: tuple[str, str] | None) -> ssl.SSLContext:
    """A client TLS context trusting the CA file ``verify`` (httpx's own bundle for True, nothing
    checked for False) and holding the client certificate ``cert`` (a ``(certificate file, key
    file)`` pair). A file that cannot be read or parsed is a :class:`ClientError` naming it."""
    try:
        if isinstance(verify, str):
            context = ssl.create_default_context(cafile=verify)
        else:
            context = httpx.create_ssl_context(verify=verify)
        if cert is not None:
            context.load_cert_chain(*cert)
    except (OSError, ssl.SSLError) as exc:
        files = [verify] if isinstance(verify, str) else []
        files += list(cert or ())
        raise ClientError(
            f"cannot use the TLS files {', '.join(files)}: {exc}", code=Code.INVALID_ARGUMENT
        ) from None
    return context


def _tls(verify: bool | str, cert: tuple[str, str] | None) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` takes: :func:`client_ssl_context`'s context, or a plain bool when
    there is neither a CA file nor a certificate."""
    if isinstance(verify, bool) and cert is None:
        return verify
    return client_ssl_context(verify, cert)


class _Base(Remembered, Generic[_Transport]):
    """What both shells are made with (``_open`` makes the httpx client) and their retry policy."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
        transport: _Transport | None = None,
    ) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.retries = retries
        options: dict[str, Any] = {
            "base_url": self.url,
            "timeout": timeout,
            "headers": _headers(token),
            "verify": _tls(verify, cert),
        }
        self._open(options, transport)

    @abstractmethod
    def _open(self, options: dict[str, Any], transport: _Transport | None) -> None:
        """Makes the shell's httpx client from ``options`` and ``transport``."""

    def _again(self, call: core.Call[Any], attempt: int, answer: _Answer) -> bool:
        """Whether attempt number ``attempt`` of ``call``, which got ``answer`` (a response, or
        the failure of the exchange), is to be followed by another (``core.retry_allowed``)."""
        if isinstance(answer, httpx.TransportError):
            sent = _transport_error(answer, self.url)[1]
            return core.retry_allowed(call, attempt, self.retries, sent=sent, status=0)
        status = answer.status_code
        return status != 200 and core.retry_allowed(
            call, attempt, self.retries, sent=True, status=status
        )

    def _result(self, call: core.Call[T], answer: _Answer) -> T:
        """The call's result from its last ``answer``; the client error when it failed."""
        if isinstance(answer, httpx.TransportError):
            raise _transport_error(answer, self.url)[0] from answer
        return call.parse(answer.status_code, answer.content)


class SyncHttp(_Base[httpx.BaseTransport], SyncShell):
    """The blocking shell: one httpx pool, ``_send`` with the retry policy; thread-safe."""

    def _open(self, options: dict[str, Any], transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(**options, transport=transport)

    def _send(self, call: core.Call[T]) -> T:
        for attempt in range(self.retries + 1):
            answer: _Answer
            try:
                answer = self._http.request(call.method, call.path, content=call.body)
            except httpx.TransportError as exc:
                answer = exc
            if not self._again(call, attempt, answer):
                return self._result(call, answer)
            time.sleep(backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def close(self) -> None:
        self._http.close()


class Client(SyncHttp, KeptSignatures):
    """A blocking client of one server's TensorFlow Serving REST API (and shiba's own routes)."""

    def status(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Each version's state (``GET /v1/models/{model}``)."""
        return self._send(core.status_call(ModelRef(model, version, label)))

    def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        """The version's signatures (``GET /v1/models/{model}/metadata``)."""
        return self._send(core.metadata_call(ModelRef(model, version, label)))

    def models(self) -> dict[str, list[VersionStatus]]:
        """Every model the server knows, with each version's state, engines and labels
        (shiba's own ``GET /shiba/v1/models``)."""
        return self._send(core.models_call())

    def labels(self, model: str, *, version: int | None = None) -> list[str]:
        """The class names of the model's version (the newest loaded one by default), from its
        ``assets.extra/labels.txt``; empty when it has none (``NotFoundError``: no such model)."""
        return _labels_of(self._send(core.model_call(model)), version)

    def predict(
        self,
        model: str,
        inputs: core.Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        """Runs the signature on ``inputs`` (one array, or arrays by input alias) and returns
        every output by alias."""
        info = self.signature(model, signature, version=version, label=label)
        return self._send(core.predict_call(ModelRef(model, version, label), info, inputs))


class AsyncHttp(_Base[httpx.AsyncBaseTransport], AsyncShell):
    """The asyncio shell: one httpx pool, ``_send`` with the retry policy."""

    def _open(self, options: dict[str, Any], transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = httpx.AsyncClient(**options, transport=transport)

    async def _send(self, call: core.Call[T]) -> T:
        for attempt in range(self.retries + 1):
            answer: _Answer
            try:
                answer = await self._http.request(call.method, call.path, content=call.body)
            except httpx.TransportError as exc:
                answer = exc
            if not self._again(call, attempt, answer):
                return self._result(call, answer)
            await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._http.aclose()


class AsyncClient(AsyncHttp, AsyncKeptSignatures):
    """The asyncio twin of :class:`Client`: the same methods, awaited."""

    async def status(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        return await self._send(core.status_call(ModelRef(model, version, label)))

    async def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        return await self._send(core.metadata_call(ModelRef(model, version, label)))

    async def models(self) -> dict[str, list[VersionStatus]]:
        return await self._send(core.models_call())

    async def labels(self, model: str, *, version: int | None = None) -> list[str]:
        return _labels_of(await self._send(core.model_call(model)), version)

    async def predict(
        self,
        model: str,
        inputs: core.Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        info = await self.signature(model, signature, version=version, label=label)
        return await self._send(core.predict_call(ModelRef(model, version, label), info, inputs))


def _labels_of(versions: list[VersionStatus], version: int | None) -> list[str]:
    for entry in versions:  # newest first
        if (version is None and entry.state == "AVAILABLE") or entry.version == version:
            return list(entry.labels)
    return []
