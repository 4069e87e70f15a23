"""What chutes relies on in httpx-sse's reading, checked on httpx-sse alone.

The client hands httpx-sse the body through the core's tap and classifies the events it
yields. These tests fail if a release of httpx-sse (pinned ``>=0.4.1,<0.5``) changes any of
the behaviour that split relies on; each names what would break.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx_sse
import pytest


class _Body(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


def events(*pieces: bytes) -> list[httpx_sse.ServerSentEvent]:
    """What httpx-sse's public EventSource yields for a body in these pieces."""
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_Body(list(pieces))
    )
    return list(httpx_sse.EventSource(response).iter_sse())


def test_reads_the_body_through_iter_text() -> None:
    """EventSource reads response.iter_text(), so the tap (a byte stream under a response of
    our own, declared UTF-8) sees every byte before the parser does."""
    assert [e.data for e in events(b"data: a", b"\n\n")] == ["a"]


def test_a_line_starting_with_a_brace_is_an_ignored_field() -> None:
    """The platform's raw {"error": ...} line is no event: the tap must catch it."""
    assert events(b'data: a\n\n{"error": "boom"}\n\n')[1:] == []
    assert [e.data for e in events(b'{"error": "boom"}\ndata: a\n\n')] == ["a"]


def test_an_event_cut_before_its_blank_line_is_not_dispatched() -> None:
    """A body that ends inside an event yields nothing for it (WHATWG): the tap reports the
    stream as cut short."""
    assert [e.data for e in events(b"data: a\n\ndata: cut")] == ["a"]
    assert [e.data for e in events(b"data: a\n\ndata: cut\n")] == ["a"]


def test_a_byte_order_mark_is_not_stripped() -> None:
    """httpx-sse leaves a leading BOM in the first field name, so the tap strips it."""
    assert events("\ufeffdata: a\n\n".encode()) == []


def test_a_final_cr_is_held_until_the_next_chunk() -> None:
    """A CR that ends a chunk waits for a possible LF: the tap turns it into CRLF so an event
    ended by CR comes out at once."""
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=_Body([b"data: a\r\r", b"data: b\r\r"]),
    )
    first = next(iter(httpx_sse.EventSource(response).iter_sse()))
    assert first.data == "a"
    assert response.num_bytes_downloaded == len(b"data: a\r\r") + len(b"data: b\r\r")


def test_a_block_without_data_is_dispatched_once_an_id_was_seen() -> None:
    """httpx-sse dispatches data-less events (the spec does not): the core drops them."""
    got = events(b"id: 1\ndata: a\n\n\nevent: ping\n\n")
    assert [(e.event, e.data) for e in got] == [("message", "a"), ("message", ""), ("ping", "")]


@pytest.mark.parametrize("value", [b"x", "\u00b2".encode(), b"9" * 5000])
def test_a_retry_python_cannot_read_is_ignored(value: bytes) -> None:
    """An unreadable retry field never raises out of httpx-sse."""
    assert [e.retry for e in events(b"retry: " + value + b"\ndata: a\n\n")] == [None]


def test_the_event_fields() -> None:
    """event, data (joined lines), id (kept across events) and retry are what the client maps
    to chutes.ServerSentEvent; an id holding NUL is ignored."""
    got = events(b"event: t\nid: 7\nretry: 50\ndata: a\ndata: b\n\nid: x\x00y\ndata: c\n\n")
    assert [(e.event, e.data, e.id, e.retry) for e in got] == [
        ("t", "a\nb", "7", 50),
        ("message", "c", "7", None),
    ]


def test_it_refuses_a_response_that_is_not_an_event_stream() -> None:
    """The content-type check the tapped response satisfies: the client checks the real
    response's type itself, before reading."""
    response = httpx.Response(200, headers={"content-type": "text/plain"}, stream=_Body([]))
    with pytest.raises(httpx_sse.SSEError):
        list(httpx_sse.EventSource(response).iter_sse())
