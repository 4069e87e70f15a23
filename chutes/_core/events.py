"""Server-sent events: what httpx-sse cannot see, and what each event means.

Rule: httpx-sse parses the event stream (the WHATWG rules: fields, comments, CR/LF/CRLF
line ends, multi-line data); this module decides everything around it, without I/O:

- :class:`SSETap` watches the body bytes on their way to httpx-sse and catches what the
  SSE framing hides: a UTF-8 byte-order mark (stripped, as the WHATWG spec says), the
  platform's raw ``{"error": ...}`` line (a chute writes a failure after the first chunk
  as one unframed line, often without a newline, then closes the connection), an event or
  line larger than the limit, and a body that ends inside an event (the spec drops such an
  event; we report the stream as cut short).
- :func:`plain_event` and :class:`ChunkReader` classify the events httpx-sse yields: data,
  ``[DONE]``, error events and the raw error line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from .errors import DecodeError, ResponseTooLargeError, StreamError, detail_text
from .public import export

__all__ = ["ServerSentEvent"]

_BOM: Final = b"\xef\xbb\xbf"
_TERMINATORS: Final = (b"\n", b"\r")
# The end of a blank line: two line ends with nothing between them (CRLF counts as one).
_BLANK_LINE_ENDS: Final = (b"\n\n", b"\r\r", b"\n\r")
_BLANK_LINE: Final = re.compile(rb"\n\n|\r\r|\n\r")


class ServerSentEvent(NamedTuple):
    """One server-sent event.

    Attributes:
        event: the event type (``"message"`` when the server named none).
        data: the data lines joined with ``\\n``.
        id: the last event id seen on the stream, if any.
        retry: the reconnection time the server asked for, in milliseconds, if any.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON.

        Raises:
            DecodeError: when the data is not valid JSON.
        """
        try:
            return json.loads(self.data)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(
                f"event data is not valid JSON: {exc}", body=self.data.encode()
            ) from None


def is_event_stream(content_type: str | None) -> bool:
    """Whether a response's content type announces server-sent events."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "text/event-stream"


def not_event_stream_error(content_type: str | None, body: bytes) -> DecodeError:
    """The error for a success response to a streaming call that is not an event stream."""
    snippet = body[:200].decode("utf-8", errors="replace")
    return DecodeError(
        f"expected a text/event-stream response but got {content_type or 'no content type'}: "
        f"{snippet!r}",
        body=body,
        content_type=content_type,
    )


def raw_line_error(text: str, partial_text: str = "") -> StreamError:
    """The :class:`StreamError` for the platform's raw ``{"error": ...}`` line."""
    detail: Any
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        detail = text
    else:
        detail = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    return StreamError(detail_text(detail) or text, partial_text=partial_text, detail=detail)


class SSETap:
    """Watches an event stream's bytes on their way to httpx-sse.

    :meth:`feed` hands each chunk on (a leading BOM dropped; a CR that ends a chunk made a
    CRLF, so the parser need not wait for the next chunk to know the line ended) and keeps
    track of the framing: the size of the event being received, whether a field line of it
    has begun, and whether the last line of the body so far starts with ``{`` (the platform
    writes a failure as such a line, last, then closes the connection: httpx-sse reads it
    as an unknown field and drops it). Work per chunk does not grow with its size, beyond
    a check for a blank line near its end.

    Args:
        event_limit: the most bytes one event (or line) may hold.

    Raises:
        ResponseTooLargeError: from :meth:`feed`, past ``event_limit``.
    """

    __slots__ = (
        "_at_start",
        "_block",
        "_candidate",
        "_comment",
        "_drop_lf",
        "_head",
        "_last",
        "_limit",
        "_raw",
        "_since_blank",
    )

    def __init__(self, event_limit: int) -> None:
        self._limit = event_limit
        self._head: bytes | None = b""  # the first bytes, until the BOM question is settled
        self._drop_lf = False  # the LF of a CRLF whose CR ended the previous chunk
        self._at_start = True  # the next byte starts a line
        self._last = b"\n"  # the last byte handed on (the body starts at a line's start)
        self._since_blank = 0  # bytes since the last blank line: the current event's size
        self._block = False  # a field line of an unfinished event has begun
        self._comment = False  # the unfinished line is a comment
        self._candidate: list[bytes] | None = None  # the unfinished line, if it starts with {
        self._raw: bytes | None = None  # the last complete line, if it starts with {

    @property
    def raw_line(self) -> str | None:
        """The raw (unframed) line starting with ``{`` that ends the body so far, if any."""
        raw = b"".join(self._candidate) if self._candidate is not None else self._raw
        return None if raw is None else raw.decode("utf-8", errors="replace").strip()

    def cut_short(self) -> bool:
        """Whether the body ended inside an event: its blank line never came (a body that
        ends with the raw error line reports that line instead)."""
        if self.raw_line is not None:
            return False
        return bool(self._head) or self._block

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` to pass on to the SSE parser."""
        if self._head is not None:
            # A byte-order mark may arrive split over chunks: hold the first bytes back.
            head = self._head + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._head = head
                return b""
            self._head = None
            chunk = head.removeprefix(_BOM)
        if self._drop_lf:
            self._drop_lf = False
            chunk = chunk.removeprefix(b"\n")
        if not chunk:
            return b""
        if chunk[-1:] == b"\r":
            chunk += b"\n"
            self._drop_lf = True
        cr = b"\r" in chunk
        self._track_events(chunk, cr)
        self._track_lines(chunk, cr)
        return chunk

    def _track_events(self, chunk: bytes, cr: bool) -> None:
        # Searching backwards has no fast path in CPython, so a pattern is looked for only
        # where it can be: most streams have no CR at all.
        found = max(map(chunk.rfind, _BLANK_LINE_ENDS if cr else (b"\n\n",)))
        if found >= 0:
            blank = found + 2  # the index just after the last blank line
        elif (self._last + chunk[:1]) in _BLANK_LINE_ENDS:
            blank = 1  # a blank line that straddles the previous chunk
        else:
            blank = -1
        if blank >= 0 and self._since_blank + len(chunk) > self._limit:
            # A chunk long enough to hold a whole event past the limit: measure each one.
            start = -self._since_blank
            for match in _BLANK_LINE.finditer(chunk):
                self._check(match.start() - start)
                start = match.end()
        if blank >= 0:
            # What follows the last blank line belongs to the event now being received.
            tail, continuing = chunk[blank:], False
            self._since_blank = len(tail)
            self._block = self._comment = False
        else:
            tail, continuing = chunk, not self._at_start
            self._since_blank += len(chunk)
        self._check(self._since_blank)
        if tail:
            for index, line in enumerate(tail.replace(b"\r", b"\n").split(b"\n")):
                if not line:
                    continue
                if index == 0 and continuing:
                    self._block = self._block or not self._comment  # more of the same line
                    continue
                self._comment = line[:1] == b":"
                self._block = self._block or not self._comment

    def _track_lines(self, chunk: bytes, cr: bool) -> None:
        """Keep the last line of the body so far if it starts with ``{``."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r") if cr else -1)
        partial = chunk[end + 1 :]
        if end >= 0:
            # Lines ended in this chunk: the last non-empty one is the one that counts.
            ended = chunk[: end + 1].rstrip(b"\r\n")
            if ended:
                start = max(ended.rfind(b"\n"), ended.rfind(b"\r") if cr else -1) + 1
                if start == 0 and not self._at_start:
                    last = None if self._candidate is None else [*self._candidate, ended]
                else:
                    line = ended[start:]
                    last = [line] if line[:1] == b"{" else None
                self._raw = None if last is None else b"".join(last)
                self._check(0 if self._raw is None else len(self._raw))
            elif self._candidate is not None:
                self._raw = b"".join(self._candidate)  # the line in progress just ended
            self._candidate = None
            self._at_start = True
        if partial:
            if self._at_start:
                self._candidate = [partial] if partial[:1] == b"{" else None
                self._raw = None  # a line follows the last complete one
            elif self._candidate is not None:
                self._candidate.append(partial)
            self._at_start = False
        if self._at_start:
            self._comment = False
        self._last = chunk[-1:]

    def _check(self, size: int) -> None:
        if size > self._limit:
            raise ResponseTooLargeError(
                f"a server-sent event (or line) exceeds the limit of {self._limit} bytes "
                "(ResponseLimits.event)",
                limit=self._limit,
            )


def plain_event(event: str, data: str, id: str, retry: int | None) -> ServerSentEvent | None:
    """A :class:`ServerSentEvent` for what httpx-sse yielded; ``None`` for an event with no
    data, which the WHATWG spec does not dispatch."""
    if not data:
        return None
    return ServerSentEvent(event, data, id or None, retry)


class Done:
    """The ``[DONE]`` marker that ends an OpenAI-style stream."""


DONE: Final = Done()


# The stdlib's C scanner, called directly: json.loads adds a whitespace scan on each side of
# every chunk, which a chunk (JSON straight after "data: ") rarely needs. Same values, same
# refusals (trailing data, NaN aside: both accept it), one layer fewer per chunk.
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json_object(data: str) -> Any:
    """``json.loads(data)``, with the common case (no surrounding whitespace) faster."""
    if data[:1] in ("{", "["):
        try:
            value, end = _SCAN(data, 0)
        except StopIteration:
            raise ValueError("not JSON") from None
        if end == len(data):
            return value
    return json.loads(data)


def classify_chunk(event: str, data: str) -> dict[str, Any] | Done | None:
    """What one event of an OpenAI-style chunk stream means.

    Returns:
        The chunk's parsed JSON object, :data:`DONE` for ``[DONE]``, or ``None`` for an
        event that carries no data.

    Raises:
        StreamError: (its ``partial_text`` left to the caller) for an ``error`` event, a
            ``{"error": ...}`` payload (with no choices), or data that is not a JSON object.
    """
    if not data:
        return None
    if data == "[DONE]" or (data[:1] in " \t[" and data.strip() == "[DONE]"):
        return DONE
    try:
        payload = _json_object(data)
    except (ValueError, RecursionError):
        if event == "error":
            raise StreamError(data, detail=data) from None
        raise StreamError(f"a stream event is not valid JSON: {data[:200]!r}") from None
    if type(payload) is not dict:
        if event == "error":
            raise StreamError(data, detail=payload)
        raise StreamError(f"a stream event is not a JSON object: {data[:200]!r}")
    if event == "error" or ("error" in payload and not payload.get("choices")):
        detail = payload.get("error", payload)
        raise StreamError(detail_text(detail) or data, detail=detail)
    return payload


export(__all__, globals())
