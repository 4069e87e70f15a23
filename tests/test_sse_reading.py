"""Reading event streams: the core's tap in front of httpx-sse, fed deliberately split chunks.

Every case runs at several chunkings, one byte at a time included: what comes out must not
depend on where the network cut the body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chutes._core.errors import DecodeError, ResponseTooLargeError, StreamError
from chutes._core.events import ServerSentEvent, SSETap, plain_event, raw_line_error
from chutes._httpx import event_source

RECORDED = Path(__file__).parent / "data" / "recorded"
LIMIT = 16 * 2**20

SIZES = [
    pytest.param(1, id="1-byte"),
    pytest.param(2, id="2-bytes"),
    pytest.param(3, id="3-bytes"),
    pytest.param(7, id="7-bytes"),
    pytest.param(None, id="whole"),
]


def chunks(data: bytes, size: int | None) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (one piece when ``size`` is None)."""
    if size is None:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


class Pieces(httpx.SyncByteStream):
    """A body that arrives in the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


def read(pieces: list[bytes], limit: int = LIMIT) -> tuple[list[ServerSentEvent], SSETap]:
    """The events httpx-sse yields (as the client keeps them) behind a fresh tap."""
    raw = httpx.Response(200, stream=Pieces(pieces))
    tap = SSETap(limit)
    events = []
    for sse in event_source(raw, tap, "http://test").iter_sse():
        event = plain_event(sse.event, sse.data, sse.id, sse.retry)
        if event is not None:
            events.append(event)
    return events, tap


def parse(data: bytes, size: int | None) -> list[ServerSentEvent]:
    """The events of ``data`` fed in ``size``-byte chunks."""
    return read(chunks(data, size))[0]


def event(data: str, **kwargs: object) -> ServerSentEvent:
    """A ServerSentEvent with the given data."""
    return ServerSentEvent(data=data, **kwargs)  # type: ignore[arg-type]


# --- line endings -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"data: a\n\ndata: b\n\n", id="lf"),
        pytest.param(b"data: a\r\n\r\ndata: b\r\n\r\n", id="crlf"),
        pytest.param(b"data: a\r\rdata: b\r\r", id="cr"),
        pytest.param(b"data: a\r\n\ndata: b\r\r\n", id="mixed"),
    ],
)
def test_line_endings(data: bytes, size: int | None) -> None:
    """LF, CRLF and CR all end lines, whatever the chunking."""
    assert parse(data, size) == [event("a"), event("b")]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    """A CR at the end of one chunk and LF at the start of the next end a single line."""
    assert read([b"data: a\r", b"\ndata: b\r\n\r\n"])[0] == [event("a\nb")]


def test_cr_at_chunk_end_followed_by_text_ends_the_line() -> None:
    """A CR at a chunk's end, followed by a non-LF byte, still ends the line."""
    assert read([b"data: a\r", b"data: b\r\r"])[0] == [event("a\nb")]


def test_event_ended_by_cr_is_read_before_the_next_chunk() -> None:
    """An event whose blank line ends with a chunk-final CR comes out without waiting."""
    raw = httpx.Response(200, stream=Pieces([b"data: a\r\r", b"data: b\r\r"]))
    source = event_source(raw, SSETap(LIMIT), "http://test").iter_sse()
    assert next(source).data == "a"
    assert raw.num_bytes_downloaded == len(b"data: a\r\r")


@pytest.mark.parametrize("size", SIZES)
def test_comments_ignored(size: int | None) -> None:
    """Comment lines (': ping') produce nothing and do not break an event."""
    assert parse(b": ping\ndata: a\n: mid\ndata: b\n\n: tail\n", size) == [event("a\nb")]


@pytest.mark.parametrize("size", SIZES)
def test_event_id_retry_fields(size: int | None) -> None:
    """event, id and retry fields are read into the event."""
    assert parse(b"event: tick\nid: 42\nretry: 1500\ndata: x\n\n", size) == [
        event("x", event="tick", id="42", retry=1500)
    ]


@pytest.mark.parametrize("size", SIZES)
def test_event_type_resets_but_id_persists(size: int | None) -> None:
    """The event type applies to one event; the last id carries over to the next."""
    assert parse(b"event: a\nid: 1\ndata: x\n\ndata: y\n\n", size) == [
        event("x", event="a", id="1"),
        event("y", id="1"),
    ]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"x", id="word"),
        pytest.param("\u00b2".encode(), id="superscript-two"),
        pytest.param(b"9" * 5000, id="5000-digits"),
    ],
)
def test_invalid_retry_ignored(value: bytes, size: int | None) -> None:
    """A retry field that is not a number Python reads is ignored, never an error."""
    assert parse(b"retry: " + value + b"\ndata: x\n\n", size) == [event("x")]


@pytest.mark.parametrize("size", SIZES)
def test_multi_line_data_joined(size: int | None) -> None:
    """Several data lines form one event, joined with newlines."""
    assert parse(b"data: one\ndata: two\ndata:three\n\n", size) == [event("one\ntwo\nthree")]


@pytest.mark.parametrize("size", SIZES)
def test_only_one_leading_space_removed(size: int | None) -> None:
    """Exactly one space after the colon is dropped; further spaces are data."""
    assert parse(b"data:  two\n\n", size) == [event(" two")]


@pytest.mark.parametrize("size", SIZES)
def test_event_without_data_not_dispatched(size: int | None) -> None:
    """A block with no data (an id, an event type, a repeated blank line) dispatches nothing."""
    assert parse(b"event: ping\n\nid: 3\n\n\n\ndata: x\n\n", size) == [event("x", id="3")]


@pytest.mark.parametrize("size", SIZES)
def test_unknown_field_ignored(size: int | None) -> None:
    """Unknown field names are ignored."""
    assert parse(b"foo: bar\ndata: x\n\n", size) == [event("x")]


# --- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_utf8_bom_stripped(size: int | None) -> None:
    """A UTF-8 byte-order mark at the start is dropped, so the first field still reads."""
    assert parse(b"\xef\xbb\xbfdata: a\n\n", size) == [event("a")]


@pytest.mark.parametrize("size", SIZES)
def test_multibyte_utf8_split_across_chunks(size: int | None) -> None:
    """Multi-byte UTF-8 characters split between chunks decode intact."""
    assert parse("data: h\u00e9llo \u2603 \U0001f600\n\n".encode(), size) == [
        event("h\u00e9llo \u2603 \U0001f600")
    ]


@pytest.mark.parametrize("size", SIZES)
def test_bom_only_at_start(size: int | None) -> None:
    """A BOM later in the stream is data, not stripped."""
    assert parse(b"data: a\n\ndata: \xef\xbb\xbfb\n\n", size) == [event("a"), event("\ufeffb")]


def test_short_body_that_is_not_a_bom_is_kept() -> None:
    """One or two bytes that begin like a BOM but are not one reach the parser."""
    events, tap = read([b"\xef", b"data: a\n\n"])
    assert (events, tap.cut_short()) == ([], False)


# --- end of body ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"data: a\n\ndata: last", id="no-newline"),
        pytest.param(b"data: a\n\ndata: last\n", id="one-newline"),
        pytest.param(b"data: a\r\n\r\ndata: last\r", id="cr"),
        pytest.param(b"data: a\n\nevent: x\n", id="only-a-field"),
        pytest.param(b"data: a\n\n: c\ndata: la", id="after-a-comment"),
    ],
)
def test_unterminated_final_event_is_dropped_and_cut_short(data: bytes, size: int | None) -> None:
    """An event not followed by a blank line is dropped (WHATWG) and the body is cut short."""
    events, tap = read(chunks(data, size))
    assert (events, tap.cut_short()) == ([event("a")], True)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"data: a\n\n", id="blank-line"),
        pytest.param(b"data: a\n\n: ping\n", id="trailing-comment"),
        pytest.param(b"data: a\n\n: pi", id="unterminated-comment"),
        pytest.param(b"data: a\r\n\r\n\r\n", id="extra-blank-lines"),
        pytest.param(b"", id="empty"),
    ],
)
def test_body_ending_between_events_is_not_cut(data: bytes, size: int | None) -> None:
    """A body that ends at an event boundary (comments aside) is complete."""
    _, tap = read(chunks(data, size))
    assert tap.cut_short() is False


# --- the platform's raw error line -----------------------------------------------------------

RAW_ERROR = b'data: {"x": 1}\n\n{"error": "boom"}'


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "tail", [pytest.param(b"", id="no-newline"), pytest.param(b"\n", id="newline")]
)
def test_raw_error_line_is_caught(size: int | None, tail: bytes) -> None:
    """The unframed {"error": ...} line ends the events and is kept for the caller."""
    events, tap = read(chunks(RAW_ERROR + tail, size))
    assert (events, tap.raw_line, tap.cut_short()) == (
        [event('{"x": 1}')],
        '{"error": "boom"}',
        False,
    )


@pytest.mark.parametrize("size", SIZES)
def test_raw_error_line_after_crlf(size: int | None) -> None:
    """A raw line after CRLF framing is caught too."""
    _, tap = read(chunks(b'data: 1\r\n\r\n{"error": "x"}', size))
    assert tap.raw_line == '{"error": "x"}'


def test_raw_line_counts_only_as_the_last_line() -> None:
    """A line starting with { that more lines follow is not the platform's error line:
    httpx-sse reads it as an unknown field, as the WHATWG spec says."""
    events, tap = read([b'{"error": "boom"}\n', b"data: later\n\n"])
    assert (events, tap.raw_line) == ([event("later")], None)


@pytest.mark.parametrize("size", SIZES)
def test_raw_line_followed_by_blank_lines_still_counts(size: int | None) -> None:
    """Line ends after the raw line do not hide it."""
    _, tap = read(chunks(b'data: 1\n\n{"error": "x"}\n\n\n', size))
    assert tap.raw_line == '{"error": "x"}'


def test_raw_line_error_gives_message_and_detail() -> None:
    """The raw line becomes StreamError with the server's message and detail."""
    error = raw_line_error('{"error": {"message": "overloaded", "code": 503}}', "so far")
    assert (str(error), error.detail, error.partial_text) == (
        "overloaded",
        {"message": "overloaded", "code": 503},
        "so far",
    )


def test_raw_line_that_is_not_json_is_the_message() -> None:
    """A raw line that is not JSON is reported as it came."""
    assert str(raw_line_error("{broken")) == "{broken"


# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [pytest.param(100, id="split"), pytest.param(None, id="whole")])
def test_event_larger_than_limit_raises(size: int | None) -> None:
    """An event past the event limit raises ResponseTooLargeError, naming the limit."""
    body = b"data: " + b"x" * 2000 + b"\n\n"
    with pytest.raises(ResponseTooLargeError, match="1000 bytes") as info:
        read(chunks(body, size), limit=1000)
    assert info.value.limit == 1000


def test_line_without_newline_larger_than_limit_raises() -> None:
    """A line that never ends is cut off at the limit, not buffered forever."""
    with pytest.raises(ResponseTooLargeError):
        read([b"data: "] + [b"x" * 100] * 20, limit=1000)


def test_raw_line_larger_than_limit_raises() -> None:
    """The raw error line is held to the limit too."""
    with pytest.raises(ResponseTooLargeError):
        read([b'{"error": "'] + [b"x" * 100] * 20, limit=1000)


def test_many_events_within_limit_pass() -> None:
    """The limit is per event: a long body of small events is fine."""
    body = b"data: " + b"x" * 500 + b"\n\n"
    assert len(read([body] * 50, limit=1000)[0]) == 50


# --- ServerSentEvent.json ---------------------------------------------------------------------


def test_event_json() -> None:
    """ServerSentEvent.json() parses the data."""
    assert event('{"a": [1, 2]}').json() == {"a": [1, 2]}


@pytest.mark.parametrize("data", ["[DONE]", "", "{", "not json", "[" * 100_000])
def test_event_json_invalid(data: str) -> None:
    """Invalid (or too deeply nested) JSON data raises DecodeError carrying the data."""
    with pytest.raises(DecodeError) as info:
        event(data).json()
    assert info.value.body == data.encode()


def test_event_defaults() -> None:
    """An event defaults to type 'message' with no id and no retry."""
    assert (ServerSentEvent().event, ServerSentEvent().id, ServerSentEvent().retry) == (
        "message",
        None,
        None,
    )


# --- recorded streams from real servers -------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("path", "count"),
    [
        pytest.param("litellm/chat-stream.body", 13, id="litellm"),
        pytest.param("litellm/chat-stream-inband-error.body", 2, id="litellm-inband-error"),
        pytest.param("llamacpp/chat-stream.body", 15, id="llamacpp"),
    ],
)
def test_recorded_stream(path: str, count: int, size: int | None) -> None:
    """A recorded stream yields all its events, JSON chunks then [DONE], however it is cut."""
    events, tap = read(chunks((RECORDED / path).read_bytes(), size))
    assert len(events) == count
    assert events[-1].data == "[DONE]"
    assert all(isinstance(e.json(), dict) for e in events[:-1])
    assert tap.cut_short() is False


# --- any chunking -----------------------------------------------------------------------------

# Lines an SSE body is made of, the awkward ones included: every field, comments, the raw
# error line, data with and without its space, blank lines, and text that looks like a
# blank line or a `data: ` prefix in the middle of a line.
LINES = [
    "data: {}",
    'data: {"a": 1}',
    "data:x",
    "data:  two spaces",
    "data: a: b",
    "data",
    "event: error",
    "event: ping",
    "event:",
    "id: 7",
    "id: a\0b",
    "retry: 300",
    "retry: x",
    ": comment",
    '{"error": "boom"}',
    "field: data: y",
    "",
    "",
    "",
]
ENDINGS = ["\n", "\r\n", "\r"]


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    """Bodies of the lines above with mixed line endings and an optional unterminated tail."""
    picked = draw(st.lists(st.sampled_from(LINES), max_size=30))
    endings = draw(st.lists(st.sampled_from(ENDINGS), min_size=len(picked), max_size=len(picked)))
    unterminated = draw(st.sampled_from(["", "data: tail", '{"error": "tail"}', ": c"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + "".join(line + end for line, end in zip(picked, endings, strict=True))
    return (text + unterminated).encode()


def outcome(pieces: list[bytes]) -> tuple[list[ServerSentEvent], str | None, bool]:
    """Everything reading ``pieces`` tells: events, raw line, whether it was cut short."""
    events, tap = read(pieces)
    return events, tap.raw_line, tap.cut_short()


@given(body=sse_bodies(), cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6))
@settings(max_examples=400, deadline=None)
def test_any_chunking_reads_like_one_byte_at_a_time(body: bytes, cuts: list[int]) -> None:
    """However the body is cut, the events, the raw line and the cut-short verdict are those
    of reading it one byte at a time."""
    reference = outcome(chunks(body, 1))
    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert outcome(pieces) == reference
    assert outcome([body]) == reference


def test_a_cut_event_stays_out_whatever_follows_in_the_next_read() -> None:
    """An event the body ends inside is never dispatched, even partially."""
    events, tap = read([b"data: a\n\n", b"data: part"])
    assert [e.data for e in events] == ["a"]
    assert tap.cut_short()


def test_stream_error_is_a_chutes_error() -> None:
    """What the stream raises for a raw line is a StreamError."""
    assert isinstance(raw_line_error('{"error": "x"}'), StreamError)
