"""The incremental SSE parser and the event decoder, fed deliberately split chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chutes._core.errors import DecodeError, StreamError
from chutes._core.sse import RawLine, ServerSentEvent, SSEParser
from chutes._core.streaming import EventDecoder

RECORDED = Path(__file__).parent.parent / "data" / "recorded"

SIZES = [
    pytest.param(1, id="1-byte"),
    pytest.param(2, id="2-bytes"),
    pytest.param(3, id="3-bytes"),
    pytest.param(7, id="7-bytes"),
    pytest.param(None, id="whole"),
]

Item = ServerSentEvent | RawLine


def chunks(data: bytes, size: int | None) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (one piece when ``size`` is None)."""
    if size is None:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


def parse(data: bytes, size: int | None) -> list[Item]:
    """Everything SSEParser yields for ``data`` fed in ``size``-byte chunks, then closed."""
    parser = SSEParser()
    items: list[Item] = []
    for chunk in chunks(data, size):
        items.extend(parser.feed(chunk))
    items.extend(parser.close())
    return items


def decode(data: bytes, size: int | None) -> list[ServerSentEvent]:
    """Everything EventDecoder yields for ``data`` fed in ``size``-byte chunks, then closed."""
    decoder = EventDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks(data, size):
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def feed_all(decoder: EventDecoder, pieces: list[bytes], seen: list[ServerSentEvent]) -> None:
    """Feed every piece then close, collecting events into ``seen`` until something raises."""
    for piece in pieces:
        seen.extend(decoder.feed(piece))
    seen.extend(decoder.close())


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
    parser = SSEParser()
    items = parser.feed(b"data: a\r")
    items += parser.feed(b"\ndata: b\r\n\r\n")
    assert items + parser.close() == [event("a\nb")]


def test_cr_at_chunk_end_followed_by_text_ends_the_line() -> None:
    """A CR at a chunk's end, followed by a non-LF byte, still ends the line."""
    parser = SSEParser()
    items = parser.feed(b"data: a\r")
    items += parser.feed(b"data: b\r\r")
    assert items + parser.close() == [event("a\nb")]


def test_event_dispatched_without_waiting_for_close() -> None:
    """An event whose blank line arrived is returned by feed, not held until close."""
    assert SSEParser().feed(b"data: a\n\n") == [event("a")]


def test_cr_terminated_event_dispatched_without_waiting() -> None:
    """An event ended by CR CR is returned by feed; it does not wait for the next chunk."""
    assert SSEParser().feed(b"data: a\r\r") == [event("a")]


def test_incomplete_line_yields_nothing() -> None:
    """Bytes without a line ending produce no item yet."""
    assert SSEParser().feed(b"data: partial") == []


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_comments_ignored(size: int | None) -> None:
    """Comment lines (': ping') produce nothing and do not break an event."""
    data = b": ping\n\n: ping\ndata: a\n: inside\n\n:\n\n"
    assert parse(data, size) == [event("a")]


@pytest.mark.parametrize("size", SIZES)
def test_event_id_retry_fields(size: int | None) -> None:
    """event, id and retry fields are read into the event."""
    data = b"event: update\nid: 42\nretry: 3000\ndata: x\n\n"
    assert parse(data, size) == [event("x", event="update", id="42", retry=3000)]


@pytest.mark.parametrize("size", SIZES)
def test_event_type_resets_but_id_persists(size: int | None) -> None:
    """The event type applies to one event; the last id carries over to the next."""
    data = b"event: update\nid: 7\ndata: x\n\ndata: y\n\n"
    assert parse(data, size) == [
        event("x", event="update", id="7"),
        event("y", event="message", id="7"),
    ]


@pytest.mark.parametrize("size", SIZES)
def test_invalid_retry_ignored(size: int | None) -> None:
    """A retry field that is not all digits is ignored."""
    assert parse(b"retry: soon\ndata: x\n\n", size) == [event("x", retry=None)]


@pytest.mark.parametrize("size", SIZES)
def test_multi_line_data_joined(size: int | None) -> None:
    """Several data lines form one event, joined with newlines."""
    assert parse(b"data: line 1\ndata: line 2\ndata:\ndata: 4\n\n", size) == [
        event("line 1\nline 2\n\n4")
    ]


@pytest.mark.parametrize("size", SIZES)
def test_only_one_leading_space_removed(size: int | None) -> None:
    """Exactly one space after the colon is dropped; further spaces are data."""
    assert parse(b"data:  two\n\n", size) == [event(" two")]


@pytest.mark.parametrize("size", SIZES)
def test_done_without_space(size: int | None) -> None:
    """'data:[DONE]' without a space reads as the data '[DONE]'."""
    assert parse(b"data:[DONE]\n\n", size) == [event("[DONE]")]


@pytest.mark.parametrize("size", SIZES)
def test_event_without_data_not_dispatched(size: int | None) -> None:
    """A block with no data lines dispatches nothing."""
    assert parse(b"event: ping\n\nid: 1\n\n", size) == []


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
    text = "h\u00e9llo \u4e16\u754c \U0001f389"
    assert parse(f"data: {text}\n\n".encode(), size) == [event(text)]


@pytest.mark.parametrize("size", SIZES)
def test_bom_only_at_start(size: int | None) -> None:
    """A BOM later in the stream is data, not stripped."""
    assert parse(b"data: a\n\ndata: \xef\xbb\xbfb\n\n", size) == [
        event("a"),
        event("\ufeffb"),
    ]


# --- end of body ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"data: a\n\ndata: last", id="no-newline"),
        pytest.param(b"data: a\n\ndata: last\n", id="one-newline"),
        pytest.param(b"data: a\r\n\r\ndata: last\r", id="cr"),
    ],
)
def test_unterminated_final_event_dispatched_at_close(data: bytes, size: int | None) -> None:
    """An event not followed by a blank line is dispatched at close()."""
    assert parse(data, size) == [event("a"), event("last")]


def test_close_on_empty_body() -> None:
    """Closing a parser that saw nothing yields nothing."""
    assert SSEParser().close() == []


# --- the platform's raw error line -----------------------------------------------------------

RAW_ERROR = b'data: {"x": 1}\n\n{"error": "boom"}'


@pytest.mark.parametrize("size", SIZES)
def test_raw_error_line_is_raw_line(size: int | None) -> None:
    """The unframed {"error": ...} line with no newline comes out as a RawLine."""
    assert parse(RAW_ERROR, size) == [event('{"x": 1}'), RawLine('{"error": "boom"}')]


@pytest.mark.parametrize("size", SIZES)
def test_raw_error_line_with_newline_is_raw_line(size: int | None) -> None:
    """The raw error line followed by a newline is a RawLine too."""
    assert parse(RAW_ERROR + b"\n", size) == [event('{"x": 1}'), RawLine('{"error": "boom"}')]


@pytest.mark.parametrize("size", SIZES)
def test_decoder_raises_stream_error_for_raw_line(size: int | None) -> None:
    """EventDecoder turns the raw error line into StreamError('boom'), after earlier events."""
    seen: list[ServerSentEvent] = []
    with pytest.raises(StreamError) as info:
        feed_all(EventDecoder(), chunks(RAW_ERROR, size), seen)
    assert str(info.value) == "boom"
    assert info.value.detail == "boom"
    assert seen == [event('{"x": 1}')]


def test_decoder_raw_line_object_error() -> None:
    """A raw line whose error is an object gives that object's message."""
    decoder = EventDecoder()
    with pytest.raises(StreamError, match=r"^overloaded$") as info:
        decoder.feed(b'{"error": {"message": "overloaded", "code": 503}}\n')
    assert info.value.detail == {"message": "overloaded", "code": 503}


def test_decoder_passes_events() -> None:
    """EventDecoder yields ordinary events unchanged."""
    assert decode(b"event: x\ndata: 1\n\n", None) == [event("1", event="x")]


# --- ServerSentEvent.json ---------------------------------------------------------------------


def test_event_json() -> None:
    """ServerSentEvent.json() parses the data."""
    assert event('{"a": [1, 2]}').json() == {"a": [1, 2]}


@pytest.mark.parametrize("data", ["[DONE]", "", "{", "not json"])
def test_event_json_invalid(data: str) -> None:
    """Invalid JSON data raises DecodeError carrying the data as body."""
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
    events = decode((RECORDED / path).read_bytes(), size)
    assert len(events) == count
    assert events[-1].data == "[DONE]"
    assert all(isinstance(e.json(), dict) for e in events[:-1])


@pytest.mark.parametrize("size", SIZES)
def test_recorded_inband_error_event(size: int | None) -> None:
    """litellm's in-band error arrives as a data event after the ping comments."""
    body = (RECORDED / "litellm" / "chat-stream-inband-error.body").read_bytes()
    first = decode(body, size)[0]
    assert first.json()["error"]["message"] == (
        "litellm.RateLimitError: this is a mock rate limit error"
    )


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
@settings(max_examples=100, deadline=None)
def test_recorded_stream_any_cut(cuts: list[int]) -> None:
    """Cutting a recorded stream at arbitrary points gives the same events as one piece."""
    body = (RECORDED / "litellm" / "chat-stream.body").read_bytes()
    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    decoder = EventDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.close()
    assert events == decode(body, None)


# --- whole blocks at once (the fast path) and bare events ----------------------------------

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
    picked = draw(st.lists(st.sampled_from(LINES), max_size=30))
    endings = draw(st.lists(st.sampled_from(ENDINGS), min_size=len(picked), max_size=len(picked)))
    unterminated = draw(st.sampled_from(["", "data: tail", '{"error": "tail"}']))
    return ("".join(line + end for line, end in zip(picked, endings, strict=True))).encode() + (
        unterminated.encode()
    )


def _fed(parser: SSEParser, pieces: list[bytes]) -> list[Item | str]:
    items: list[Item | str] = []
    for piece in pieces:
        items += parser.feed(piece)
    return items + parser.close()


@given(body=sse_bodies(), cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6))
@settings(max_examples=500, deadline=None)
def test_any_chunking_parses_like_one_byte_at_a_time(body: bytes, cuts: list[int]) -> None:
    """Whole blocks in one chunk take a shortcut; one byte at a time never does, so it is
    the reference: every chunking must give the same items."""
    reference = _fed(SSEParser(), chunks(body, 1))
    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert _fed(SSEParser(), pieces) == reference
    assert _fed(SSEParser(), [body]) == reference


@given(body=sse_bodies())
@settings(max_examples=300, deadline=None)
def test_a_bare_parser_gives_message_data_as_text(body: bytes) -> None:
    """``bare=True`` changes only how a ``message`` event comes out: its data, as a str."""
    expected = [
        item.data if isinstance(item, ServerSentEvent) and item.event == "message" else item
        for item in _fed(SSEParser(), [body])
    ]
    assert _fed(SSEParser(bare=True), [body]) == expected
    assert _fed(SSEParser(bare=True), chunks(body, 1)) == expected


def test_blocks_in_one_chunk_keep_the_id_and_retry_seen_before() -> None:
    parser = SSEParser()
    items = parser.feed(b"id: 1\nretry: 50\ndata: a\n\ndata: b\n\ndata: c\n\n")
    assert items == [
        event("a", id="1", retry=50),
        event("b", id="1", retry=50),
        event("c", id="1", retry=50),
    ]
