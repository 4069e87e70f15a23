"""What a broken or hostile server, or a careless caller, can no longer do (issue 11).

Every case runs against a real socket server on 127.0.0.1 that misbehaves on purpose, with
the blocking client and the asyncio client.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import resource
import time
import zlib
from pathlib import Path
from typing import Any

import brotli
import pytest

import chutes

NO_SLEEP = chutes.RetryPolicy(initial_delay=0)
BODY = json.dumps({"ok": True, "text": "x" * 4000}).encode()


def head(status: int = 200, **headers: str | int) -> bytes:
    """A status line and headers (``content_type`` and the like, underscores as dashes)."""
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(*pieces: bytes, end: bool = True) -> bytes:
    """``pieces`` framed with chunked transfer coding (and its terminating chunk)."""
    framed = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces if p)
    return framed + (b"0\r\n\r\n" if end else b"")


def sync_client(key: str, **options: Any) -> chutes.Client:
    """A blocking client that never sleeps between retries."""
    options.setdefault("retry_policy", NO_SLEEP)
    options.setdefault("timeout", 5.0)
    return chutes.Client(api_key=key, **options)


def async_client(key: str, **options: Any) -> chutes.AsyncClient:
    """An asyncio client that never sleeps between retries."""
    options.setdefault("retry_policy", NO_SLEEP)
    options.setdefault("timeout", 5.0)
    return chutes.AsyncClient(api_key=key, **options)


def peak_rss_mb() -> float:
    """The process's peak resident size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- 1. no partial body returned as complete -------------------------------------------------


def _cut(encoding: str) -> bytes:
    """BODY compressed with ``encoding``, its last third cut off."""
    packed = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
    }[encoding](BODY * 20)
    return packed[: len(packed) * 2 // 3]


ENCODINGS = [pytest.param(e, id=e) for e in ("gzip", "deflate", "br")]
FRAMINGS = [pytest.param("length", id="content-length"), pytest.param("chunked", id="chunked")]


def _truncated_response(encoding: str, framing: str) -> bytes:
    body = _cut(encoding)
    if framing == "length":
        return (
            head(
                200,
                content_type="application/json",
                content_encoding=encoding,
                content_length=len(body),
            )
            + body
        )
    return head(
        200, content_type="application/json", content_encoding=encoding, transfer_encoding="chunked"
    ) + chunked(body)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_truncated_compressed_body_raises_sync(
    fault_server: Any, rel_key: str, encoding: str, framing: str
) -> None:
    """A compressed body cut short under complete framing raises, never returns."""
    fault_server.queue(fault_server.raw(_truncated_response(encoding, framing)))
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match="cut short"):
        client.chute(url=fault_server.url).get("/x")


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_truncated_compressed_body_raises_async(
    fault_server: Any, rel_key: str, encoding: str, framing: str
) -> None:
    """The asyncio client also refuses a compressed body cut short."""
    fault_server.queue(fault_server.raw(_truncated_response(encoding, framing)))
    async with async_client(rel_key) as client:
        with pytest.raises(chutes.DecodeError, match="cut short"):
            await client.chute(url=fault_server.url).get("/x")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_whole_compressed_body_decodes_sync(fault_server: Any, rel_key: str, encoding: str) -> None:
    """A whole compressed body decodes to exactly what was compressed."""
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[encoding](
        BODY
    )
    fault_server.queue(
        fault_server.raw(
            head(
                200,
                content_type="application/json",
                content_encoding=encoding,
                content_length=len(packed),
            )
            + packed
        )
    )
    with sync_client(rel_key) as client:
        assert client.chute(url=fault_server.url).get("/x").content == BODY


def _sse_gzip_cut() -> bytes:
    events = b"".join(fault_for_event(i) for i in range(200))
    packed = gzip.compress(events)[:-40]  # the gzip trailer and the end of the deflate data
    return head(
        200, content_type="text/event-stream", content_encoding="gzip", transfer_encoding="chunked"
    ) + chunked(packed)


def fault_for_event(index: int) -> bytes:
    """One chat chunk event."""
    chunk = {"choices": [{"index": 0, "delta": {"content": f"w{index} "}, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_truncated_compressed_stream_raises_sync(fault_server: Any, rel_key: str) -> None:
    """A gzip event stream cut short raises StreamError, never ends as if complete."""
    fault_server.queue(fault_server.raw(_sse_gzip_cut()))
    with sync_client(rel_key) as client, pytest.raises(chutes.StreamError, match="cut"):
        with client.chute(url=fault_server.url).stream("/events") as events:
            list(events)


async def test_truncated_compressed_stream_raises_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client also raises StreamError for a gzip stream cut short."""
    fault_server.queue(fault_server.raw(_sse_gzip_cut()))
    async with async_client(rel_key) as client:
        with pytest.raises(chutes.StreamError, match="cut"):
            async with client.chute(url=fault_server.url).stream("/events") as events:
                [event async for event in events]


# --- 2. a response that began is an answer ---------------------------------------------------

BEGAN = [
    pytest.param(b"HTTP/1.1 20", "close", id="half-status-line-then-close"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Ty", "close", id="half-headers-then-close"),
    pytest.param(b"HTTP/1.1 200 OK\r\n", "reset", id="status-line-then-reset"),
]


@pytest.mark.parametrize(("data", "ending"), BEGAN)
def test_drop_after_the_answer_began_is_not_retried_sync(
    fault_server: Any, rel_key: str, data: bytes, ending: str
) -> None:
    """Once any byte of the answer arrived, a dropped connection is not retried."""
    fault_server.queue(fault_server.raw(data, ending=ending, pause=0.05))
    with sync_client(rel_key, max_retries=3) as client:
        with pytest.raises(chutes.APIConnectionError) as info:
            client.chute(url=fault_server.url).post("/run", json={"n": 1})
        assert info.value.failure is chutes.ConnectionFailure.DROPPED
        assert client.usage.retries == 0
    assert fault_server.count("/run") == 1


@pytest.mark.parametrize(("data", "ending"), BEGAN)
async def test_drop_after_the_answer_began_is_not_retried_async(
    fault_server: Any, rel_key: str, data: bytes, ending: str
) -> None:
    """The asyncio client also never resends a request whose answer began."""
    fault_server.queue(fault_server.raw(data, ending=ending, pause=0.05))
    async with async_client(rel_key, max_retries=3) as client:
        with pytest.raises(chutes.APIConnectionError) as info:
            await client.chute(url=fault_server.url).post("/run", json={"n": 1})
        assert info.value.failure is chutes.ConnectionFailure.DROPPED
    assert fault_server.count("/run") == 1


def test_close_before_any_byte_is_still_retried_sync(fault_server: Any, rel_key: str) -> None:
    """A connection closed before any byte of answer is retried (the request did not run)."""
    fault_server.queue(fault_server.raw(b""), fault_server.raw(b"", ending="reset"))
    with sync_client(rel_key, max_retries=3) as client:
        assert client.chute(url=fault_server.url).post("/run", json={}).json() == {"ok": True}
    assert fault_server.count("/run") == 3


async def test_close_before_any_byte_is_still_retried_async(
    fault_server: Any, rel_key: str
) -> None:
    """The asyncio client retries a connection closed before any byte of answer."""
    fault_server.queue(fault_server.raw(b""), fault_server.raw(b"", ending="reset"))
    async with async_client(rel_key, max_retries=3) as client:
        response = await client.chute(url=fault_server.url).post("/run", json={})
    assert (response.json(), fault_server.count("/run")) == ({"ok": True}, 3)


# --- 3. memory is bounded -----------------------------------------------------------------


def _bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes (1 GiB compresses to about 1 MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + compressor.flush()


BOMB = _bomb(1 << 30)
LIMIT = 32 * 2**20


def _bomb_response() -> bytes:
    return (
        head(
            200, content_type="application/json", content_encoding="gzip", content_length=len(BOMB)
        )
        + BOMB
    )


def test_gzip_bomb_raises_with_bounded_memory_sync(fault_server: Any, rel_key: str) -> None:
    """A 1 MiB gzip body that decompresses to 1 GiB stops at the body limit, and the peak
    memory grows by less than 64 MiB over the limit."""
    assert len(BOMB) < 2 * 2**20
    fault_server.queue(fault_server.raw(_bomb_response()))
    limits = chutes.ResponseLimits(body=LIMIT)
    before = peak_rss_mb()
    with sync_client(rel_key, response_limits=limits) as client:
        with pytest.raises(chutes.ResponseTooLargeError, match=r"ResponseLimits\.body") as info:
            client.chute(url=fault_server.url).get("/bomb")
    assert info.value.limit == LIMIT
    assert peak_rss_mb() - before < (LIMIT >> 20) + 64


async def test_gzip_bomb_raises_with_bounded_memory_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client also stops a gzip bomb at the body limit."""
    fault_server.queue(fault_server.raw(_bomb_response()))
    limits = chutes.ResponseLimits(body=LIMIT)
    before = peak_rss_mb()
    async with async_client(rel_key, response_limits=limits) as client:
        with pytest.raises(chutes.ResponseTooLargeError):
            await client.chute(url=fault_server.url).get("/bomb")
    assert peak_rss_mb() - before < (LIMIT >> 20) + 64


def _endless_line(size: int) -> Any:
    async def behaviour(ex: Any) -> bool:
        await ex.send(head(200, content_type="text/event-stream", transfer_encoding="chunked"))
        step = b"x" * (1 << 20)
        await ex.send(chunked(b"data: ", end=False))
        for _ in range(size >> 20):
            try:
                await ex.send(chunked(step, end=False))
            except (ConnectionError, OSError):
                return False
        return False

    return behaviour


def test_endless_sse_line_raises_with_bounded_memory_sync(fault_server: Any, rel_key: str) -> None:
    """A 300 MiB event line without a newline stops at the event limit, memory bounded."""
    fault_server.queue(_endless_line(300 << 20))
    limits = chutes.ResponseLimits(event=16 * 2**20)
    before = peak_rss_mb()
    with sync_client(rel_key, response_limits=limits) as client:
        with pytest.raises(chutes.ResponseTooLargeError, match=r"ResponseLimits\.event"):
            with client.chute(url=fault_server.url).stream("/events") as events:
                list(events)
    assert peak_rss_mb() - before < 16 + 64


async def test_endless_sse_line_raises_with_bounded_memory_async(
    fault_server: Any, rel_key: str
) -> None:
    """The asyncio client also stops an endless event line at the event limit."""
    fault_server.queue(_endless_line(300 << 20))
    limits = chutes.ResponseLimits(event=16 * 2**20)
    before = peak_rss_mb()
    async with async_client(rel_key, response_limits=limits) as client:
        with pytest.raises(chutes.ResponseTooLargeError):
            async with client.chute(url=fault_server.url).stream("/events") as events:
                [event async for event in events]
    assert peak_rss_mb() - before < 16 + 64


def test_an_error_keeps_at_most_64_kib_of_its_body(fault_server: Any, rel_key: str) -> None:
    """An error body larger than 64 KiB is kept to its first 64 KiB."""
    body = b"E" * (1 << 20)
    fault_server.queue(
        fault_server.raw(head(500, content_type="text/plain", content_length=len(body)) + body)
    )
    with sync_client(rel_key, max_retries=0) as client:
        with pytest.raises(chutes.InternalServerError) as info:
            client.chute(url=fault_server.url).get("/x")
    assert len(info.value.response.content) == 64 * 1024
    assert len(info.value.body) == 64 * 1024


async def test_an_error_keeps_at_most_64_kib_of_its_body_async(
    fault_server: Any, rel_key: str
) -> None:
    """The asyncio client also keeps only 64 KiB of an error body."""
    body = b"E" * (1 << 20)
    fault_server.queue(
        fault_server.raw(head(500, content_type="text/plain", content_length=len(body)) + body)
    )
    async with async_client(rel_key, max_retries=0) as client:
        with pytest.raises(chutes.InternalServerError) as info:
            await client.chute(url=fault_server.url).get("/x")
    assert len(info.value.response.content) == 64 * 1024


# --- 4. a total deadline -------------------------------------------------------------------

DRIP_HEAD = head(200, content_type="application/json", content_length=1000)


def test_total_bounds_a_dripping_body_sync(fault_server: Any, rel_key: str) -> None:
    """A server dripping a byte just under the read timeout cannot hold a call past total."""
    fault_server.queue(fault_server.drip(DRIP_HEAD, b"x" * 1000, every=0.3))
    timeout = chutes.Timeout(read=0.5, total=1.2)
    started = time.monotonic()
    with sync_client(rel_key, timeout=timeout) as client:
        with pytest.raises(chutes.APITimeoutError, match="total"):
            client.chute(url=fault_server.url).get("/drip")
    assert 1.1 < time.monotonic() - started < 2.5


async def test_total_bounds_a_dripping_body_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client also stops a dripping body at its total timeout."""
    fault_server.queue(fault_server.drip(DRIP_HEAD, b"x" * 1000, every=0.3))
    timeout = chutes.Timeout(read=0.5, total=1.2)
    started = time.monotonic()
    async with async_client(rel_key, timeout=timeout) as client:
        with pytest.raises(chutes.APITimeoutError, match="total"):
            await client.chute(url=fault_server.url).get("/drip")
    assert 1.1 < time.monotonic() - started < 2.5


SSE_HEAD = head(200, content_type="text/event-stream", transfer_encoding="chunked")


def _dripping_stream() -> Any:
    return b"".join(chunked(fault_for_event(i), end=False) for i in range(100))


def test_total_bounds_a_stream_s_whole_life_sync(fault_server: Any, rel_key: str) -> None:
    """A stream whose events keep coming just under the read timeout ends at its total."""
    fault_server.queue(fault_server.drip(SSE_HEAD, _dripping_stream(), every=0.02))
    timeout = chutes.Timeout(read=0.5, total=1.0)
    started = time.monotonic()
    with sync_client(rel_key, timeout=timeout) as client, pytest.raises(chutes.APITimeoutError):
        with client.chute(url=fault_server.url).stream("/events") as events:
            list(events)
    assert 0.9 < time.monotonic() - started < 2.0


async def test_total_bounds_a_stream_s_whole_life_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client also ends a dripping stream at its total."""
    fault_server.queue(fault_server.drip(SSE_HEAD, _dripping_stream(), every=0.02))
    timeout = chutes.Timeout(read=0.5, total=1.0)
    started = time.monotonic()
    async with async_client(rel_key, timeout=timeout) as client:
        with pytest.raises(chutes.APITimeoutError):
            async with client.chute(url=fault_server.url).stream("/events") as events:
                [event async for event in events]
    assert 0.9 < time.monotonic() - started < 2.0


def test_total_bounds_backoff_sleeps_sync(fault_server: Any, rel_key: str) -> None:
    """A retry whose backoff would end past the total raises at once, without sleeping."""
    fault_server.queue(fault_server.status(503), fault_server.status(503))
    policy = chutes.RetryPolicy(initial_delay=5.0, jitter=False)
    started = time.monotonic()
    with sync_client(rel_key, retry_policy=policy, timeout=chutes.Timeout(total=1.0)) as client:
        with pytest.raises(chutes.APITimeoutError, match="total"):
            client.chute(url=fault_server.url).get("/x")
    assert time.monotonic() - started < 0.9
    assert fault_server.count("/x") == 1


async def test_total_bounds_backoff_sleeps_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client also refuses a backoff that would cross its total."""
    fault_server.queue(fault_server.status(503), fault_server.status(503))
    policy = chutes.RetryPolicy(initial_delay=5.0, jitter=False)
    timeout = chutes.Timeout(total=1.0)
    async with async_client(rel_key, retry_policy=policy, timeout=timeout) as client:
        with pytest.raises(chutes.APITimeoutError):
            await client.chute(url=fault_server.url).get("/x")
    assert fault_server.count("/x") == 1


def test_total_on_a_borrowed_client_is_checked_between_reads(
    fault_server: Any, rel_key: str
) -> None:
    """With an http_client of one's own, the total still ends a dripping body."""
    import httpx

    fault_server.queue(fault_server.drip(DRIP_HEAD, b"x" * 1000, every=0.2))
    timeout = chutes.Timeout(read=0.5, total=1.0)
    with httpx.Client() as http, sync_client(rel_key, http_client=http, timeout=timeout) as c:
        with pytest.raises(chutes.APITimeoutError):
            c.chute(url=fault_server.url).get("/drip")


# --- 5. large media without holding it in memory ------------------------------------------------


def test_save_to_streams_the_body_to_a_file_sync(
    fault_server: Any, rel_key: str, tmp_path: Path
) -> None:
    """save_to= writes a success body to the file; content is empty and path is the file."""
    media = bytes(range(256)) * 4096
    fault_server.queue(fault_server.respond(200, media, content_type="video/mp4"))
    target = tmp_path / "out.mp4"
    with sync_client(rel_key) as client:
        response = client.chute(url=fault_server.url).post("/video", json={}, save_to=target)
    assert (response.path, response.content, target.read_bytes()) == (target, b"", media)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


async def test_save_to_streams_the_body_to_a_file_async(
    fault_server: Any, rel_key: str, tmp_path: Path
) -> None:
    """The asyncio client also streams a success body to save_to."""
    media = bytes(range(256)) * 4096
    fault_server.queue(fault_server.respond(200, media, content_type="video/mp4"))
    target = tmp_path / "out.mp4"
    async with async_client(rel_key) as client:
        response = await client.chute(url=fault_server.url).get("/video", save_to=target)
    assert (response.path, target.read_bytes()) == (target, media)


def test_save_to_ignores_the_body_limit(fault_server: Any, rel_key: str, tmp_path: Path) -> None:
    """No body limit applies to a body streamed to a file."""
    media = b"v" * (2 << 20)
    fault_server.queue(fault_server.respond(200, media, content_type="video/mp4"))
    target = tmp_path / "big.mp4"
    limits = chutes.ResponseLimits(body=1 << 20)
    with sync_client(rel_key, response_limits=limits) as client:
        client.chute(url=fault_server.url).get("/video", save_to=target)
    assert target.stat().st_size == 2 << 20


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("status", id="error-status"),
        pytest.param("cut", id="body-cut-short"),
    ],
)
def test_save_to_leaves_no_file_on_failure_sync(
    fault_server: Any, rel_key: str, tmp_path: Path, fault: str
) -> None:
    """An error status, or a body cut short, raises and leaves no file (not even a part)."""
    if fault == "status":
        fault_server.queue(fault_server.status(404, "No matching cord found!"))
    else:
        fault_server.queue(fault_server.truncated(b"abc", declared=100))
    target = tmp_path / "out.bin"
    with sync_client(rel_key, max_retries=0) as client, pytest.raises(chutes.ChutesError):
        client.chute(url=fault_server.url).get("/video", save_to=target)
    assert list(tmp_path.iterdir()) == []


async def test_save_to_leaves_no_file_on_failure_async(
    fault_server: Any, rel_key: str, tmp_path: Path
) -> None:
    """The asyncio client also leaves no file behind an error status."""
    fault_server.queue(fault_server.status(404, "No matching cord found!"))
    async with async_client(rel_key, max_retries=0) as client:
        with pytest.raises(chutes.NotFoundError):
            await client.chute(url=fault_server.url).get("/video", save_to=tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_save_to_is_refused_on_a_stream(rel_key: str) -> None:
    """stream() takes no save_to (events are read, not saved): a clear error at once."""
    with sync_client(rel_key) as client, pytest.raises(chutes.ConfigurationError, match="save_to"):
        client.chute(url="http://127.0.0.1:9").stream("/x", save_to="f")  # type: ignore[call-arg]


# --- 6. every error is a ChutesError -----------------------------------------------------------


def test_deeply_nested_json_body_is_a_decode_error(fault_server: Any, rel_key: str) -> None:
    """A 200 body nested past Python's recursion limit raises DecodeError, not RecursionError."""
    body = b"[" * 100_000 + b"]" * 100_000
    fault_server.queue(fault_server.respond(200, body))
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match="deeply"):
        client.chute(url=fault_server.url).get("/x").json()


def test_deeply_nested_error_body_still_raises_the_status(fault_server: Any, rel_key: str) -> None:
    """An error body nested too deeply still gives the status error."""
    fault_server.queue(fault_server.respond(400, b"[" * 100_000))
    with sync_client(rel_key) as client, pytest.raises(chutes.BadRequestError):
        client.chute(url=fault_server.url).get("/x")


def test_image_url_with_a_bad_port_is_a_chutes_error(fault_server: Any, rel_key: str) -> None:
    """An image URL the server sent with an impossible port raises a ChutesError."""
    fault_server.queue(fault_server.ok({"created": 1, "data": [{"url": "http://x:99999/a.png"}]}))
    with sync_client(rel_key) as client:
        image = client.chute(url=fault_server.url).images.generate(prompt="p")
        with pytest.raises(chutes.ChutesError):
            image.data[0].bytes()


def test_a_charset_python_decodes_only_strictly_falls_back(fault_server: Any, rel_key: str) -> None:
    """Response.text with charset=idna (no lenient decoding) falls back to UTF-8."""
    fault_server.queue(
        fault_server.respond(200, b"caf\xc3\xa9 \xff", content_type="text/plain; charset=idna")
    )
    with sync_client(rel_key) as client:
        assert client.chute(url=fault_server.url).get("/x").text == "café \ufffd"


@pytest.mark.parametrize("stamp", [10**20, -(10**20), "9" * 400, float("inf")])
def test_quota_reset_out_of_range_is_none(fault_server: Any, rel_key: str, stamp: Any) -> None:
    """A quota_reset_timestamp no calendar holds gives quota_reset None, not an exception."""
    detail = {"message": "Quota exceeded.", "quota_reset_timestamp": stamp}
    body = json.dumps({"detail": detail}, allow_nan=True).encode()
    fault_server.queue(fault_server.respond(402, body))
    with sync_client(rel_key) as client, pytest.raises(chutes.PaymentRequiredError) as info:
        client.chute(url=fault_server.url).get("/x")
    assert info.value.quota_reset is None


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda ch: ch.get("/" + "a" * 70_000), id="url-too-long"),
        pytest.param(lambda ch: ch.get("/x", params={"q": "a" * 70_000}), id="params-too-long"),
        pytest.param(lambda ch: ch.post("/x", json=_nested(5000)), id="json-too-deep"),
    ],
)
def test_caller_input_past_the_limits_is_a_configuration_error(rel_key: str, call: Any) -> None:
    """Caller input httpx or json refuses raises ConfigurationError before any traffic."""
    with sync_client(rel_key) as client, pytest.raises(chutes.ConfigurationError):
        call(client.chute(url="http://127.0.0.1:9"))


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        pytest.param("HTTPS_PROXY", "ftp://proxy.example:21", "HTTPS_PROXY", id="wrong-scheme"),
        pytest.param("HTTP_PROXY", "http://[bad", "HTTP_PROXY", id="malformed"),
        pytest.param("ALL_PROXY", "socks5://user:pw@proxy:1080", "ALL_PROXY", id="socks"),
    ],
)
def test_invalid_proxy_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, rel_key: str, name: str, value: str, match: str
) -> None:
    """Proxy settings httpx refuses raise ConfigurationError naming the variable, never a
    password."""
    monkeypatch.setenv(name, value)
    with pytest.raises(chutes.ConfigurationError, match=match) as info:
        chutes.Client(api_key=rel_key)
    assert "pw" not in str(info.value)


# --- 7. credentials stay home ---------------------------------------------------------------


def test_a_download_from_another_origin_carries_no_credentials(
    make_fault_server: Any, rel_key: str
) -> None:
    """An image on another origin gets neither the key, the default headers nor cookies."""
    chute = make_fault_server("127.0.0.1")
    cdn = make_fault_server("127.0.0.2")
    image = f"{cdn.url}/a.png"
    chute.queue(
        chute.respond(
            200,
            {"created": 1, "data": [{"url": image}]},
            headers=[("Set-Cookie", "session=s3cret; Path=/")],
        )
    )
    cdn.queue(cdn.respond(200, b"\x89PNG", content_type="image/png"))
    with sync_client(rel_key, default_headers={"X-Team-Token": "tok"}) as client:
        data = client.chute(url=chute.url).images.generate(prompt="p").data[0].bytes()
    seen = {k.lower() for k in cdn.requests[-1].headers}
    assert data == b"\x89PNG"
    assert seen.isdisjoint({"authorization", "x-api-key", "x-team-token", "cookie"})


def test_no_cookie_is_ever_sent_back(fault_server: Any, rel_key: str) -> None:
    """A cookie a chute sets is never sent again, to it or to any other chute."""
    fault_server.queue(
        fault_server.respond(200, b"{}", headers=[("Set-Cookie", "x=1; Domain=127.0.0.1")])
    )
    with sync_client(rel_key) as client:
        client.chute(url=fault_server.url).get("/a")
        client.chute(url=fault_server.url).get("/b")
    assert "cookie" not in {k.lower() for k in fault_server.requests[-1].headers}


@pytest.mark.parametrize(
    "name", ["Transfer-Encoding", "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive"]
)
def test_hop_by_hop_headers_are_refused(rel_key: str, name: str) -> None:
    """Framing and hop-by-hop headers are refused in default and per-call headers."""
    with pytest.raises(chutes.ConfigurationError, match=name):
        chutes.Client(api_key=rel_key, default_headers={name: "x"})
    with sync_client(rel_key) as client, pytest.raises(chutes.ConfigurationError, match=name):
        client.chute(url="http://127.0.0.1:9").get("/x", headers={name: "x"})


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    found: BaseException | None = error
    while found is not None and found not in seen:
        seen.append(found)
        found = found.__cause__ or found.__context__
    return seen


def _everything_about(error: BaseException) -> str:
    """All an error chain shows: texts, reprs, and the headers of any request it holds."""
    out = []
    for item in _chain(error):
        out += [str(item), repr(item), repr(getattr(item, "args", ()))]
        request = getattr(item, "_request", None)
        if request is not None:
            out.append(repr(list(request.headers.items())))
    return "\n".join(out)


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
def test_no_exception_chain_carries_the_key(
    fault_server: Any, rel_key: str, auth_header: str
) -> None:
    """The httpx error kept as a cause has the key blanked from the request it holds."""
    fault_server.queue(fault_server.reset_mid_body())
    with sync_client(rel_key, auth_header=auth_header, max_retries=0) as client:
        with pytest.raises(chutes.APIConnectionError) as info:
            client.chute(url=fault_server.url).get("/x")
    assert len(_chain(info.value)) > 1
    assert rel_key not in _everything_about(info.value)


async def test_no_exception_chain_carries_the_key_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client's error chains hold no key either (X-API-Key included)."""
    fault_server.queue(fault_server.reset_before_response())
    async with async_client(rel_key, auth_header="x-api-key", max_retries=0) as client:
        with pytest.raises(chutes.APIConnectionError) as info:
            await client.chute(url=fault_server.url).get("/x")
    assert rel_key not in _everything_about(info.value)


def test_a_key_echoed_by_the_server_is_redacted(fault_server: Any, rel_key: str) -> None:
    """A server that echoes the key in its detail has it scrubbed from the error."""
    fault_server.queue(fault_server.status(401, f"bad key {rel_key}"))
    with sync_client(rel_key) as client, pytest.raises(chutes.AuthenticationError) as info:
        client.chute(url=fault_server.url).get("/x")
    assert rel_key not in (str(info.value) + repr(info.value.detail) + repr(info.value.body))
    assert "bad key ***" in str(info.value)


def _chute_with_password() -> None:
    with chutes.Client(api_key="k") as client:
        client.chute(url="http://u:hunter2@127.0.0.1:1")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: chutes.Client(api_key="k", api_url="https://u:hunter2@h"), id="api"),
        pytest.param(_chute_with_password, id="chute"),
    ],
)
def test_a_url_password_never_appears_in_an_error(make: Any) -> None:
    """User info in a URL is refused, and its password is not in the message."""
    with pytest.raises(chutes.ConfigurationError) as info:
        make()
    assert "hunter2" not in str(info.value)


# --- 8. streams end when they end ------------------------------------------------------------

DONE_THEN_HOLD = SSE_HEAD + chunked(fault_for_event(0), b"data: [DONE]\n\n", end=False)


def _finish_event() -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_a_stream_ends_at_done_without_waiting_sync(fault_server: Any, rel_key: str) -> None:
    """After [DONE] the stream ends at once, though the server holds the connection open."""
    fault_server.queue(fault_server.raw(DONE_THEN_HOLD, ending="stall"))
    started = time.monotonic()
    with sync_client(rel_key, timeout=chutes.Timeout(read=3.0)) as client:
        stream = client.chute(url=fault_server.url).chat.completions.create(
            messages=[], stream=True
        )
        with stream:
            assert "".join(stream.iter_text()) == "w0 "
    assert time.monotonic() - started < 2.0


async def test_a_stream_ends_at_done_without_waiting_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio stream also ends at [DONE] without waiting for the server."""
    fault_server.queue(fault_server.raw(DONE_THEN_HOLD, ending="stall"))
    started = time.monotonic()
    async with async_client(rel_key, timeout=chutes.Timeout(read=3.0)) as client:
        stream = await client.chute(url=fault_server.url).chat.completions.create(
            messages=[], stream=True
        )
        async with stream:
            assert "".join([p async for p in stream.iter_text()]) == "w0 "
    assert time.monotonic() - started < 2.0


FINISHED_NO_DONE = SSE_HEAD + chunked(fault_for_event(0), _finish_event())


def test_a_finished_stream_without_done_is_complete_sync(fault_server: Any, rel_key: str) -> None:
    """Every choice finished, then the body ended (no usage, no [DONE]): complete, usage None,
    and the call counted."""
    fault_server.queue(fault_server.raw(FINISHED_NO_DONE))
    with sync_client(rel_key) as client:
        stream = client.chute(url=fault_server.url).chat.completions.create(
            messages=[], stream=True
        )
        with stream:
            completion = stream.collect()
        assert (completion.choices[0].message.content, stream.usage) == ("w0 ", None)
        assert (client.usage.requests, client.usage.failures) == (1, 0)


async def test_a_finished_stream_without_done_is_complete_async(
    fault_server: Any, rel_key: str
) -> None:
    """The asyncio stream also ends complete without [DONE] once every choice finished."""
    fault_server.queue(fault_server.raw(FINISHED_NO_DONE))
    async with async_client(rel_key) as client:
        stream = await client.chute(url=fault_server.url).chat.completions.create(
            messages=[], stream=True
        )
        async with stream:
            completion = await stream.collect()
        assert completion.choices[0].finish_reason == "stop"
        assert (client.usage.requests, client.usage.failures) == (1, 0)


# --- 9. backoff has a floor -------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    ["0", "Thu, 01 Jan 1970 00:00:00 GMT"],
    ids=["zero", "date-in-the-past"],
)
def test_retry_after_below_the_floor_waits_initial_delay(
    fault_server: Any, rel_key: str, retry_after: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry-After: 0 or a past date never makes a tight loop: retries wait initial_delay."""
    waits: list[float] = []
    monkeypatch.setattr("chutes._runtime.Runtime.sleep", waits.append)
    busy = fault_server.respond(429, {"detail": "busy"}, headers=[("Retry-After", retry_after)])
    fault_server.queue(busy, busy)
    policy = chutes.RetryPolicy(initial_delay=0.25, jitter=False)
    with sync_client(rel_key, retry_policy=policy) as client:
        client.chute(url=fault_server.url).get("/x")
    assert waits == [0.25, 0.25]


# --- 10. found when tried as a new user would ------------------------------------------------


def test_content_given_as_parts_decodes(fault_server: Any, rel_key: str) -> None:
    """A message content that is a list of parts decodes to its text."""
    body = fault_server.chat_body()
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "Hello "},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "there"},
    ]
    fault_server.queue(fault_server.ok(body))
    with sync_client(rel_key) as client:
        chat = client.chute(url=fault_server.url).chat.completions.create(messages=[])
    assert chat.choices[0].message.content == "Hello there"


def test_a_decoding_error_names_the_field(fault_server: Any, rel_key: str) -> None:
    """A field of the wrong type is named in the DecodeError."""
    body = fault_server.chat_body()
    body["choices"][0]["message"]["role"] = 5
    fault_server.queue(fault_server.ok(body))
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match=r"role|string"):
        client.chute(url=fault_server.url).chat.completions.create(messages=[])


def test_error_body_with_error_and_message_gives_the_message(
    fault_server: Any, rel_key: str
) -> None:
    """{"error": "SyntaxError", "message": "..."} gives the message text."""
    fault_server.queue(
        fault_server.respond(400, {"error": "SyntaxError", "message": "Unexpected token }"})
    )
    with sync_client(rel_key) as client, pytest.raises(chutes.BadRequestError) as info:
        client.chute(url=fault_server.url).post("/x", json={})
    assert info.value.message == "Unexpected token }"


def test_an_error_object_under_200_raises(fault_server: Any, rel_key: str) -> None:
    """A 200 body {"error": {...}} raises with the server's message, not an empty answer."""
    fault_server.queue(fault_server.ok({"error": {"message": "model overloaded", "code": 503}}))
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match="overloaded"):
        client.chute(url=fault_server.url).chat.completions.create(messages=[])


def test_a_body_of_the_wrong_kind_raises(fault_server: Any, rel_key: str) -> None:
    """An embeddings body answering a chat call raises DecodeError naming what is missing."""
    fault_server.queue(
        fault_server.ok({"object": "list", "data": [{"embedding": [0.1], "index": 0}]})
    )
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match="choices"):
        client.chute(url=fault_server.url).chat.completions.create(messages=[])


def test_null_token_counts_are_none(fault_server: Any, rel_key: str) -> None:
    """Token counts sent as null decode as None, not 0."""
    body = fault_server.chat_body()
    body["usage"] = {"prompt_tokens": None, "completion_tokens": 3, "total_tokens": None}
    fault_server.queue(fault_server.ok(body))
    with sync_client(rel_key) as client:
        usage = client.chute(url=fault_server.url).chat.completions.create(messages=[]).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (None, 3, None)


def test_an_async_client_closes_in_the_next_asyncio_run(fault_server: Any, rel_key: str) -> None:
    """An AsyncClient used in one asyncio.run is used and closed in the next, with no
    'Event loop is closed' and no socket left open (no ResourceWarning: warnings are errors
    in this suite)."""
    client = async_client(rel_key)
    chute = client.chute(url=fault_server.url)

    async def use() -> Any:
        return (await chute.get("/x")).json()

    assert asyncio.run(use()) == {"ok": True}
    assert asyncio.run(use()) == {"ok": True}
    asyncio.run(client.aclose())
    assert client.is_closed
    assert fault_server.wait_until(lambda: fault_server.open_connections == 0)


def test_an_event_stream_served_as_text_plain_is_refused(fault_server: Any, rel_key: str) -> None:
    """A valid SSE body served as text/plain raises DecodeError naming the type."""
    fault_server.queue(fault_server.respond(200, b"data: {}\n\n", content_type="text/plain"))
    with sync_client(rel_key) as client, pytest.raises(chutes.DecodeError, match="text/plain"):
        with client.chute(url=fault_server.url).stream("/events") as events:
            list(events)


def test_an_error_names_the_method_and_url(fault_server: Any, rel_key: str) -> None:
    """An error message names the method and the URL it came from."""
    fault_server.queue(fault_server.status(404, "No matching cord found!"))
    with sync_client(rel_key) as client, pytest.raises(chutes.NotFoundError) as info:
        client.chute(url=fault_server.url).post("/speak", json={})
    assert str(info.value) == f"No matching cord found! (POST {fault_server.url}/speak)"


def test_a_v1_base_url_404_hints_that_the_helpers_add_it(fault_server: Any, rel_key: str) -> None:
    """chute(url=".../v1") then a helper 404s on /v1/v1/...: the message says why."""
    fault_server.queue(fault_server.status(404, "Not Found"))
    with sync_client(rel_key) as client, pytest.raises(chutes.NotFoundError, match="/v1") as info:
        client.chute(url=fault_server.url + "/v1").chat.completions.create(messages=[])
    assert re.search(r"should not end in /v1", str(info.value))


async def test_retry_after_below_the_floor_waits_initial_delay_async(
    fault_server: Any, rel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asyncio client also waits initial_delay for a Retry-After: 0."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("chutes._runtime.AsyncRuntime.sleep", record)
    busy = fault_server.respond(429, {"detail": "busy"}, headers=[("Retry-After", "0")])
    fault_server.queue(busy, busy)
    policy = chutes.RetryPolicy(initial_delay=0.25, jitter=False)
    async with async_client(rel_key, retry_policy=policy) as client:
        await client.chute(url=fault_server.url).get("/x")
    assert waits == [0.25, 0.25]


async def test_new_user_decoding_cases_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client decodes content parts, and refuses an error object under 200 and
    a body of the wrong kind."""
    body = fault_server.chat_body()
    body["choices"][0]["message"]["content"] = [{"type": "text", "text": "Hi"}]
    fault_server.queue(
        fault_server.ok(body),
        fault_server.ok({"error": {"message": "model overloaded"}}),
        fault_server.ok({"object": "list", "data": []}),
    )
    async with async_client(rel_key) as client:
        chute = client.chute(url=fault_server.url)
        chat = await chute.chat.completions.create(messages=[])
        assert chat.choices[0].message.content == "Hi"
        with pytest.raises(chutes.DecodeError, match="overloaded"):
            await chute.chat.completions.create(messages=[])
        with pytest.raises(chutes.DecodeError, match="choices"):
            await chute.chat.completions.create(messages=[])


async def test_an_error_names_the_method_and_url_async(fault_server: Any, rel_key: str) -> None:
    """The asyncio client's errors name the method and URL too."""
    fault_server.queue(fault_server.status(404, "No matching cord found!"))
    async with async_client(rel_key) as client:
        with pytest.raises(chutes.NotFoundError) as info:
            await client.chute(url=fault_server.url).post("/speak", json={})
    assert str(info.value) == f"No matching cord found! (POST {fault_server.url}/speak)"
