"""The HTTP/1.1 client of the built-in protocols (REST and GraphQL): one POST of a JSON body per batch, on
keep-alive connections kept per partner, each answer parsed by llhttp (httptools, the parser uvicorn runs on).

Why not aiohttp's client, which third-party protocols get as `Connector.session`: a batch call through it
costs about 85 µs of the event loop's time, through this about 30 µs (`python -m bench.partner_client`), and a
customer view makes one per partner. This client does only what a batch call needs: no redirects, no
cookies (nothing a partner sets travels to another caller's call), no proxies, no compression. It fails the
way the connectors already read aiohttp's failures (resolvers/connectors/base.py): a refused, reset or
dropped connection is a `ConnectionError`, an answer that is not HTTP a `ValueError`; the retry and breaker
path above it is the same for every protocol."""

from __future__ import annotations

import asyncio
import importlib.metadata
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["PartnerHTTP", "Response"]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case (`retry-after`)
    body: bytes


# An answer larger than this is refused (and its connection closed) rather than held in memory: a batch of
# contracts is kilobytes; a partner sending without end is broken, and must not take the gateway down with it.
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, the answer handed to whoever awaits it."""

    def __init__(self, max_body: int = MAX_BODY_BYTES) -> None:
        self.transport: asyncio.Transport | None = None
        self._max_body = max_body
        self._head_bytes = 0
        self._body_bytes = 0
        self.reusable = False
        self.received = False  # any byte of an answer since the last request
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._headers_done = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, so no isinstance check).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ValueError(f"not an HTTP answer ({type(error).__name__})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._headers_done and "content-length" not in self._headers \
                and "chunked" not in self._headers.get("transfer-encoding", ""):
            self.on_message_complete()  # an answer delimited by the end of the connection, as HTTP/1.0 allows
        self._fail(ConnectionResetError("the partner closed the connection before answering in full"))

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._fail(ValueError(f"the answer's headers exceed {MAX_HEAD_BYTES} bytes"))
            return
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            self._fail(ValueError(f"the answer exceeds {self._max_body} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        self.reusable = waiter is not None and self._parser.should_keep_alive()
        response = Response(self._parser.get_status_code(), self._headers, b"".join(self._body))
        self._headers, self._body, self._headers_done, self._head_bytes, self._body_bytes = {}, [], False, 0, 0
        if waiter is None:
            self.close()  # an answer nobody asked for: this connection cannot be trusted to line up any more
        elif not waiter.done():
            waiter.set_result(response)

    async def exchange(self, request: bytes) -> Response:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.reusable = self.received = False
        self.transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)



def _user_agent() -> str:
    try:
        return f"vcv-gateway/{importlib.metadata.version('virtual-customer-view')}"
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "vcv-gateway"


# How a partner's logs name the caller (its operators tell the gateway's calls from others' by it).
USER_AGENT = _user_agent()


class PartnerHTTP:
    """POSTs to one URL of one partner (`http://` or `https://`, certificates verified), reusing up to
    `max_idle` connections between calls. The caller bounds how many calls run at once and how long each may
    take; a call that is cancelled (its time ran out) closes its connection."""

    def __init__(self, url: str, max_idle: int = 8, *, tls: ssl.SSLContext | None = None,
                 max_body: int = MAX_BODY_BYTES) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.url, self.max_idle, self._max_body = url, max_idle, max_body
        self._idle: list[_Connection] = []
        self._closed = False
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        # https: the system's trusted authorities and the host name checked (`tls` replaces them, for tests and
        # partners under a private authority).
        self._ssl = (tls or ssl.create_default_context()) if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._head = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
                      f"Content-Type: application/json\r\nUser-Agent: {USER_AGENT}\r\n").encode()

    async def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        request = self._request(body, headers)
        while self._idle:
            connection = self._idle.pop()
            if connection.transport is None or connection.transport.is_closing():
                continue
            try:
                return await self._exchange(connection, request)
            except ConnectionError:
                if connection.received:
                    raise
                # Closed by the partner while it was idle, before any answer: once more on a new connection.
                break
        return await self._exchange(await self._connect(), request)

    def close(self) -> None:
        """Closes the idle connections; one in use is closed when its call ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = []
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
                raise ValueError(f"header {name!r} cannot be sent")
            lines.append(f"{name}: {value}\r\n")
        return b"".join((self._head, f"Content-Length: {len(body)}\r\n{''.join(lines)}\r\n".encode(), body))

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _transport, connection = await loop.create_connection(lambda: _Connection(self._max_body), self._host,
                                                              self._port, ssl=self._ssl)
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        try:
            response = await connection.exchange(request)
        except BaseException:
            connection.close()  # a cancelled or failed call leaves the connection in an unknown state
            raise
        if connection.reusable and not self._closed and len(self._idle) < self.max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return response
