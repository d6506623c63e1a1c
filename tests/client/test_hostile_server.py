"""Hostile servers (issue 12): garbage, non-FHIR content, gigabyte bodies, slow drips,
redirects to another host, endless next links. Each gives one clear error naming the request
(its query string redacted), in bounded time and memory; the other cases of a batch go on.

respx (through ``httpx.MockTransport``) plays the server for what HAPI cannot be made to do;
one test uses a real socket on 127.0.0.1 for a drip that only a real transport shows.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fhir_ivc.client import FhirClient
from fhir_ivc.client._core import ResponseLimits
from fhir_ivc.client.auth import BearerTokenAuth
from fhir_ivc.exceptions import FhirHttpError, RequestError, TransportError
from tests.client._support import (
    FHIR_JSON,
    SOURCES,
    case_bundle,
    make_response,
    response_entry,
    searchset,
    transaction_response,
)

from .conftest import BASE

pytestmark = pytest.mark.anyio

MB = 1024 * 1024


def body_stream(kind: str, chunks: Iterator[bytes]) -> Any:
    """A response body produced as it is read, for the sync or the async transport."""
    if kind == "sync":
        return chunks

    async def produce() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return produce()


def endless(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


# --- garbage and non-FHIR answers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"\xff\x00garbage", FHIR_JSON, "answer is not JSON ("),
        (b"[" * 100_000 + b"]" * 100_000, FHIR_JSON, "answer is not JSON ("),
        (b'{"resourceType": "Patient", "name": "\\ud800"}', FHIR_JSON, "answer is not JSON ("),
        (b'{"resourceType": "Patient", "n": NaN}', FHIR_JSON, "answer is not JSON ("),
        (b"<html>login</html>", "text/html; charset=utf-8", "not JSON but 'text/html'"),
        (b'{"resourceType": "Patient"}', "application/xml", "not JSON but 'application/xml'"),
        (b"[1, 2]", FHIR_JSON, "expected a JSON object"),
    ],
    ids=["garbage", "deep", "surrogate", "nan", "html", "xml", "array"],
)
async def test_garbage_answers_are_one_clear_error(client, router, content, content_type, message):
    router.get("/Patient/1").mock(
        return_value=httpx.Response(200, content=content, headers={"Content-Type": content_type})
    )
    with pytest.raises(RequestError) as raised:
        await client.call("read", "Patient", "1")
    assert f"GET {BASE}/Patient/1: " in str(raised.value)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 300
    assert raised.value.request == ("GET", f"{BASE}/Patient/1")


async def test_error_status_with_garbage_body_keeps_the_status(client, router):
    router.get("/Patient/1").mock(return_value=httpx.Response(400, content=b"[" * 50_000))
    with pytest.raises(FhirHttpError, match="HTTP 400"):
        await client.call("read", "Patient", "1")


# --- bodies of gigabytes ---------------------------------------------------------------------


async def test_declared_gigabyte_body_is_refused_before_it_is_read(make_client, router, kind):
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        while True:
            read.append(1)
            yield b" " * MB

    headers = {"Content-Type": FHIR_JSON, "Content-Length": str(5 * 1024 * MB)}
    router.get("/metadata").mock(
        return_value=httpx.Response(200, headers=headers, content=body_stream(kind, chunks()))
    )
    client = make_client(limits=ResponseLimits(max_body_bytes=10 * MB))
    with pytest.raises(RequestError, match="larger than 10485760 bytes; not read"):
        await client.call("capability_statement")
    assert read == []


async def test_endless_body_is_cut_at_the_limit_in_bounded_memory(make_client, router, kind):
    router.get("/metadata").mock(
        return_value=httpx.Response(
            200,
            headers={"Content-Type": FHIR_JSON},
            content=body_stream(kind, endless(b"[" * MB)),
        )
    )
    client = make_client(limits=ResponseLimits(max_body_bytes=8 * MB))
    tracemalloc.start()
    try:
        with pytest.raises(RequestError, match="larger than 8388608 bytes"):
            await client.call("capability_statement")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MB


# --- a slow drip -------------------------------------------------------------------------------


async def test_slow_drip_hits_the_deadline(make_client, router, kind):
    clock = [0.0]

    def drip() -> Iterator[bytes]:
        while True:
            clock[0] += 1.0  # a byte a second: no single read ever times out
            yield b" "

    router.get("/Patient").mock(
        return_value=httpx.Response(
            200, headers={"Content-Type": FHIR_JSON}, content=body_stream(kind, drip())
        )
    )
    client = make_client(limits=ResponseLimits(deadline=30, clock=lambda: clock[0]))
    with pytest.raises(TransportError) as raised:
        await client.pages("Patient", {"identifier": "urn:ivc|secret-mrn"})
    assert str(raised.value) == (
        f"GET {BASE}/Patient: no complete answer within 30 s "
        "(the server is too slow or drips its answer)"
    )
    assert "secret-mrn" not in str(raised.value)
    assert 30 <= clock[0] <= 32


class DrippingServer:
    """A real HTTP server on 127.0.0.1 that sends its headers, then one byte every 50 ms."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
                try:
                    while not self._stop.wait(0.05):
                        connection.sendall(b" ")
                except OSError:  # the client gave up
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


def test_real_slow_drip_on_a_socket_is_bounded_by_the_deadline():
    server = DrippingServer()
    try:
        client = FhirClient(
            f"http://127.0.0.1:{server.port}/fhir",
            timeout=1.0,  # each read gets a byte within 50 ms: the read timeout never fires
            limits=ResponseLimits(deadline=1.5),
        )
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"no complete answer within 1\.5 s"):
            client.capability_statement()
        assert time.monotonic() - started < 4
        client.close()
    finally:
        server.close()


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "where"),
    [
        ("https://evil.test/steal?token=1", "https://evil.test:443 (another host)"),
        ("/fhir/Patient/2", "http://fhir.test:80 (same server)"),
    ],
)
async def test_redirects_are_refused_and_credentials_do_not_follow(
    make_client, router, location, where
):
    router.get("/Patient/1").mock(return_value=httpx.Response(302, headers={"Location": location}))
    client = make_client(auth=BearerTokenAuth("s3cr3t-token"))
    with pytest.raises(FhirHttpError) as raised:
        await client.call("read", "Patient", "1")
    message = str(raised.value)
    assert message.startswith(f"GET {BASE}/Patient/1: HTTP 302 redirect to {where} not followed")
    assert "steal" not in message
    assert "token" not in message.lower().replace("credentials", "")
    # only the one request was sent; an unmocked request to evil.test would have failed
    assert [str(call.request.url) for call in router.calls] == [f"{BASE}/Patient/1"]


# --- endless next links ------------------------------------------------------------------------


async def test_endless_next_links_stop_at_the_page_limit(make_client, router):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        return make_response(200, searchset(1, f"{BASE}/Patient?page={number + 1}", number))

    router.get("/Patient").mock(side_effect=page)
    client = make_client(limits=ResponseLimits(max_pages=5))
    pages: list[Any] = []
    with pytest.raises(RequestError) as raised:
        await client.pages("Patient", {"identifier": "urn:ivc|"}, into=pages)
    assert len(pages) == 5
    assert str(raised.value) == (
        "search Patient: more than 5 pages, the server's next links do not end "
        f"(next: GET {BASE}/Patient)"
    )


# --- the other cases go on -------------------------------------------------------------------


async def test_a_hostile_answer_fails_one_case_and_the_others_are_pushed(client, router, kind):
    def respond(request: httpx.Request) -> Any:
        case_id = json.loads(request.content)["entry"][0]["request"]["url"].split("|")[1]
        if case_id == "B-patient":
            return httpx.Response(
                200, headers={"Content-Type": FHIR_JSON}, content=body_stream(kind, iter([b"{"]))
            )
        if case_id == "C-patient":
            return httpx.Response(302, headers={"Location": "https://evil.test/"})
        entries = [response_entry("201 Created", f"Patient/x{i}/_history/1") for i in range(4)]
        return make_response(200, transaction_response(*entries))

    router.post(BASE).mock(side_effect=respond)
    items = [(name, case_bundle(name), SOURCES) for name in ("A", "B", "C", "D")]
    results = await client.engine("push_many", items, concurrency=2)
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error is not None
    assert "answer is not JSON" in results[1].error
    assert results[2].error is not None
    assert "redirect to https://evil.test:443 (another host) not followed" in results[2].error


async def test_gzip_bomb_is_cut_after_decompression(make_client, router):
    import gzip

    bomb = gzip.compress(b" " * (64 * MB), compresslevel=9)
    assert len(bomb) < MB
    router.get("/metadata").mock(
        return_value=httpx.Response(
            200, content=bomb, headers={"Content-Type": FHIR_JSON, "Content-Encoding": "gzip"}
        )
    )
    client = make_client(limits=ResponseLimits(max_body_bytes=8 * MB))
    with pytest.raises(RequestError, match="larger than 8388608 bytes"):
        await client.call("capability_statement")


async def test_a_compressed_answer_within_the_limit_is_read(make_client, router):
    import gzip

    body = gzip.compress(json.dumps({"resourceType": "CapabilityStatement"}).encode())
    router.get("/metadata").mock(
        return_value=httpx.Response(
            200, content=body, headers={"Content-Type": FHIR_JSON, "Content-Encoding": "gzip"}
        )
    )
    client = make_client()
    assert await client.call("capability_statement") == {"resourceType": "CapabilityStatement"}
