"""The chunk decoder's shortcut for plain JSON chunks decides exactly what its full path does.

The shortcut (the JSON scanner called directly, for a ``message`` event holding an object
without ``error``) is switched off by making the scanner fail, which sends every event down
the full path: that is the reference every body must match, payloads and errors alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chutes._core import streaming
from chutes._core.errors import ChutesError
from chutes._core.streaming import ChatChunkDecoder, CompletionChunkDecoder

CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}

# Event data, the awkward ones included: what a real server sends, what a broken one might.
DATA = [
    json.dumps(CHUNK),
    json.dumps({**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    json.dumps({**CHUNK, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}),
    json.dumps({**CHUNK, "error": "shadow"}),  # an error key beside real choices
    json.dumps({"error": {"message": "boom", "code": 500}}),
    json.dumps({"error": "plain"}),
    json.dumps({**CHUNK, "choices": {"not": "a list"}}),
    json.dumps({**CHUNK, "choices": [{"index": "zero", "delta": {"content": 1}}]}),
    json.dumps({"choices": [{"index": 0, "text": "completion text", "finish_reason": None}]}),
    json.dumps(CHUNK) + "  ",
    json.dumps(CHUNK) + " trailing",
    " " + json.dumps(CHUNK),
    '{"choices": [',
    "{}",
    "{not json",
    "[1, 2]",
    "42",
    "[DONE]",
    " [DONE] ",
    "",
]


def _body(picked: list[tuple[str, str | None]]) -> bytes:
    out = []
    for data, event in picked:
        out.append((f"event: {event}\n" if event else "") + f"data: {data}\n\n")
    return "".join(out).encode()


def _run(decoder_type: type, body: bytes, size: int) -> list[Any]:
    decoder = decoder_type()
    seen: list[Any] = []
    try:
        for i in range(0, len(body), size):
            seen += decoder.feed(body[i : i + size])
        seen += decoder.close()
    except ChutesError as exc:
        seen.append((type(exc).__name__, str(exc), getattr(exc, "partial_text", None)))
    seen.append(("done", decoder.done, decoder.partial_text))
    return seen


def _reference(decoder_type: type, body: bytes, size: int) -> list[Any]:
    def fail(text: str, index: int) -> tuple[Any, int]:
        raise StopIteration(index)

    original = streaming._scan
    streaming._scan = fail
    try:
        return _run(decoder_type, body, size)
    finally:
        streaming._scan = original


@settings(max_examples=400, deadline=None)
@given(
    picked=st.lists(
        st.tuples(st.sampled_from(DATA), st.sampled_from([None, None, None, "error", "ping"])),
        max_size=8,
    ),
    size=st.sampled_from([1, 7, 64, 100_000]),
    decoder_type=st.sampled_from([ChatChunkDecoder, CompletionChunkDecoder]),
)
def test_the_shortcut_decides_like_the_full_path(
    picked: list[tuple[str, str | None]], size: int, decoder_type: type
) -> None:
    body = _body(picked)
    assert _run(decoder_type, body, size) == _reference(decoder_type, body, size)


@pytest.mark.parametrize("data", DATA[:3])
def test_plain_chunks_take_the_shortcut(data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    scan = streaming._scan

    def counting(text: str, index: int) -> tuple[Any, int]:
        calls.append(text)
        return scan(text, index)

    monkeypatch.setattr(streaming, "_scan", counting)
    decoder = ChatChunkDecoder()
    assert decoder.feed(_body([(data, None)])) == [json.loads(data)]
    assert calls == [data]


@pytest.mark.parametrize("tail", ["\xa0", "\u2028", "\x0c", "\u3000 ", "  "])
def test_any_whitespace_after_a_chunk_is_accepted(tail: str) -> None:
    """Servers sometimes pad a line; str.strip()'s idea of whitespace decides, not JSON's."""
    chunk = {
        **CHUNK,
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
    decoder = ChatChunkDecoder()
    body = f"data: {json.dumps(chunk)}{tail}\n\ndata: [DONE]\n\n".encode()
    assert decoder.feed(body) == [chunk]
    assert decoder.partial_text == "hi"
    assert decoder.done


def test_a_non_object_with_trailing_whitespace_is_named_as_such() -> None:
    decoder = CompletionChunkDecoder()
    with pytest.raises(ChutesError, match="not a JSON object"):
        decoder.feed(b"data: [1]\x0c\n\n")
