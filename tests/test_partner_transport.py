"""The built-in protocols' HTTP client (resolvers/connectors/transport.py) against real servers on loopback:
connections kept between calls and given up when they cannot be trusted, answers read in every framing a
partner may use, and the failures the connectors map to PARTNER_* errors. The worst bug it could have is an
answer handed to the wrong call (another caller's contracts), so several tests are about exactly that."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resolvers.connectors.transport import USER_AGENT, PartnerHTTP
from tests.gateway_support import on_loopback


def _http(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@asynccontextmanager
async def raw_partner(answer: Callable[[int, bytes], tuple[bytes, bool]]) -> AsyncIterator[tuple[str, list[int]]]:
    """A partner written on sockets: `answer(connection number, request)` gives the bytes to write and whether
    to close the connection after them. Yields its URL and, per request, the number of its connection."""
    seen: list[int] = []
    count = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        mine = count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                request = head + await reader.readexactly(length)
                seen.append(mine)
                data, close = answer(mine, request)
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/batch", seen
    finally:
        server.close()


async def test_one_connection_serves_call_after_call() -> None:
    async with raw_partner(lambda n, request: (_http(b'{"n": %d}' % n), False)) as (url, seen):
        client = PartnerHTTP(url)
        answers = [await client.post(b"{}", {"X-Request-ID": f"r{i}"}) for i in range(3)]
        client.close()
    assert [a.body for a in answers] == [b'{"n": 1}'] * 3
    assert seen == [1, 1, 1]


async def test_the_request_carries_method_path_headers_and_body() -> None:
    requests: list[bytes] = []

    def answer(_n: int, request: bytes) -> tuple[bytes, bool]:
        requests.append(request)
        return _http(b"{}"), False

    async with raw_partner(answer) as (url, _seen):
        client = PartnerHTTP(url.replace("/v1/batch", "/v1/batch?tenant=7"))
        await client.post(b'{"ids": ["B-1"]}', {"Authorization": "Bearer s3cret", "X-Purpose": "advisory"})
        client.close()
    head, _, body = requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/batch?tenant=7 HTTP/1.1"
    assert {"Authorization: Bearer s3cret", "X-Purpose: advisory", "Content-Type: application/json",
            "Content-Length: 16", f"User-Agent: {USER_AGENT}"} <= set(lines)
    assert USER_AGENT.startswith("vcv-gateway/")  # the installed version after it
    assert body == b'{"ids": ["B-1"]}'


async def test_a_connection_the_partner_closed_while_idle_is_replaced_without_an_error() -> None:
    # The partner closes each connection after answering, without saying so: the next call goes out on a new
    # connection, and gets its own answer.
    async with raw_partner(lambda n, request: (_http(b'{"n": %d}' % n), True)) as (url, seen):
        client = PartnerHTTP(url)
        first = await client.post(b"{}", {})
        await asyncio.sleep(0.05)
        second = await client.post(b"{}", {})
        client.close()
    assert (first.body, second.body) == (b'{"n": 1}', b'{"n": 2}')
    assert seen == [1, 2]


async def test_a_call_that_meets_the_partners_idle_timeout_is_sent_again_once() -> None:
    # The race behind the test above: the partner closes the kept connection just as the next call is
    # written on it, answering nothing. That call is sent again on a new connection; a connection that
    # closes after it began to answer is an error (the partner may have acted on it).
    def answer(n: int, request: bytes) -> tuple[bytes, bool]:
        closes_unanswered = n == 1 and b"second" in request
        return (b"" if closes_unanswered else _http(b'{"n": %d}' % n)), closes_unanswered

    async with raw_partner(answer) as (url, seen):
        client = PartnerHTTP(url)
        first = await client.post(b"first", {})
        second = await client.post(b"second", {})
        client.close()
    assert (first.body, second.body) == (b'{"n": 1}', b'{"n": 2}')
    assert seen == [1, 1, 2]

    cut = _http(b'{"n": 1, "more": "to come"}')[:-10]
    async with raw_partner(lambda n, request: (cut if b"second" in request else _http(b"{}"), b"second" in request)
                           ) as (url, seen):
        client = PartnerHTTP(url)
        await client.post(b"first", {})
        with pytest.raises(ConnectionError):
            await client.post(b"second", {})
        client.close()
    assert seen == [1, 1]


async def test_a_call_given_up_on_never_hands_its_late_answer_to_the_next_call() -> None:
    # The first call's answer comes after its caller gave up; on a kept connection that late answer would be
    # read as the second call's. The connection of a cancelled call is closed instead.
    def answer(n: int, request: bytes) -> tuple[bytes, bool]:
        return _http(b'{"for": "%s"}' % request.split(b"X-Request-ID: ")[1].split(b"\r\n")[0]), False

    release = asyncio.Event()

    async with raw_partner(answer) as (url, seen):
        client = PartnerHTTP(url)
        original = client._connect

        async def slow_first() -> object:
            connection = await original()
            if not release.is_set():
                transport = connection.transport
                assert transport is not None
                transport.pause_reading()  # the first answer arrives, but only after its caller gave up
                asyncio.get_running_loop().call_later(0.1, transport.resume_reading)
            return connection

        client._connect = slow_first  # type: ignore[method-assign]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.03):
                await client.post(b"{}", {"X-Request-ID": "caller-one"})
        release.set()
        await asyncio.sleep(0.15)
        later = await client.post(b"{}", {"X-Request-ID": "caller-two"})
        client.close()
    assert later.body == b'{"for": "caller-two"}'
    assert seen == [1, 2]


async def test_answers_in_every_framing_are_read_in_full() -> None:
    chunked = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n")
    until_close = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"whole": "body"}'
    framings = iter([(chunked, False), (until_close, True)])
    async with raw_partner(lambda n, request: next(framings)) as (url, _seen):
        client = PartnerHTTP(url)
        first = await client.post(b"{}", {})
        second = await client.post(b"{}", {})
        client.close()
    assert (first.status, first.headers["retry-after"], first.body) == (503, "2", b'{"a": 1}')
    assert (second.status, second.body) == (200, b'{"whole": "body"}')


async def test_what_is_not_http_and_what_cannot_be_sent_fail_clearly() -> None:
    async with raw_partner(lambda n, request: (b"SSH-2.0-OpenSSH_9.6\r\n", False)) as (url, _seen):
        client = PartnerHTTP(url)
        with pytest.raises(ValueError, match="not an HTTP answer"):
            await client.post(b"{}", {})
        with pytest.raises(ValueError, match="cannot be sent"):
            await client.post(b"{}", {"X-Request-ID": "a\r\nX-Injected: yes"})
        client.close()
    with pytest.raises(ValueError, match="not an http"):
        PartnerHTTP("ftp://partner.example/batch")


async def test_a_partner_that_is_not_there_is_a_connection_error() -> None:
    async with raw_partner(lambda n, request: (_http(b"{}"), False)) as (url, _seen):
        pass  # closed again: nothing listens on its port now
    with pytest.raises(ConnectionError):
        await PartnerHTTP(url).post(b"{}", {})


async def test_it_speaks_to_an_aiohttp_partner_and_keeps_at_most_max_idle_connections() -> None:
    peers: list[object] = []

    async def batch(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        await asyncio.sleep(0.01)
        return web.json_response({"ids": (await request.json())["ids"]})

    app = web.Application()
    app.router.add_post("/batch", batch)
    runner, url = await on_loopback(app)
    try:
        client = PartnerHTTP(f"{url}/batch", max_idle=2)
        answers = await asyncio.gather(*(client.post(b'{"ids": [%d]}' % i, {}) for i in range(5)))
        assert [a.body for a in answers] == [b'{"ids": [%d]}' % i for i in range(5)]
        again = await asyncio.gather(*(client.post(b'{"ids": []}', {}) for _ in range(2)))
        assert [a.status for a in again] == [200, 200]
        client.close()
    finally:
        await runner.cleanup()
    assert len(set(peers[:5])) == 5  # five at once: five connections
    assert set(peers[5:]) <= set(peers[:5]) and len(set(peers[5:])) == 2  # two of them kept, and reused


def test_it_runs_on_uvloop_as_vcv_serve_does() -> None:
    # The tests above run on asyncio's own loop; `vcv serve` runs on uvloop, whose transports differ.
    async def scenario() -> list[bytes]:
        async with raw_partner(lambda n, request: (_http(b'{"n": %d}' % n), False)) as (url, seen):
            client = PartnerHTTP(url)
            answers = [(await client.post(b"{}", {})).body for _ in range(2)]
            client.close()
        assert seen == [1, 1]
        return answers

    assert uvloop.run(scenario()) == [b'{"n": 1}'] * 2


async def test_an_answer_without_end_is_refused_not_held() -> None:
    async with raw_partner(lambda n, request: (_http(b'{"pad": "' + b"x" * 5000 + b'"}'), False)) as (url, _seen):
        client = PartnerHTTP(url, max_body=1000)
        with pytest.raises(ValueError, match="exceeds 1000 bytes"):
            await client.post(b"{}", {})
        assert client._idle == []  # that connection is gone
        client.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "partner.pem", directory / "partner.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_https_partners_are_verified(tmp_path: Path) -> None:
    # Partners in production are reached over https: the certificate must chain to a trusted authority and
    # name the host. A partner's own certificate is refused by default, and accepted once it is trusted.
    cert_file, key_file = _self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert_file, key_file)

    async def batch(request: web.Request) -> web.Response:
        return web.json_response({"ids": (await request.json())["ids"]})

    app = web.Application()
    app.router.add_post("/batch", batch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=served)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await PartnerHTTP(f"https://localhost:{port}/batch").post(b'{"ids": [1]}', {})
        trusted = ssl.create_default_context(cafile=str(cert_file))
        client = PartnerHTTP(f"https://localhost:{port}/batch", tls=trusted)
        answers = [await client.post(b'{"ids": [%d]}' % i, {}) for i in range(2)]
        client.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # the certificate names localhost, not the address
            await PartnerHTTP(f"https://127.0.0.1:{port}/batch", tls=trusted).post(b'{"ids": [1]}', {})
    finally:
        await runner.cleanup()
    assert [a.body for a in answers] == [b'{"ids": [0]}', b'{"ids": [1]}']
