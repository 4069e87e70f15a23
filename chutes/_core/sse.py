"""An incremental server-sent-events parser that also catches the platform's raw error line.

Rule: a pure incremental parser: ``feed(chunk) -> items`` and ``close() -> items``, whatever
the chunk boundaries (one byte at a time included). It handles CRLF, LF and CR line endings,
a UTF-8 byte-order mark, comments, ``event``/``data``/``id``/``retry`` fields and multi-line
data. A line that starts with ``{`` is not SSE at all: chutes write a failure after the first
chunk as a raw ``{"error": "..."}`` line, so it comes out as a :class:`RawLine`.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NamedTuple

from .errors import DecodeError

__all__ = ["RawLine", "SSEParser", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    """One server-sent event (an immutable named tuple: cheap to make, one per chunk).

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
        except ValueError as exc:
            raise DecodeError(
                f"event data is not valid JSON: {exc}", body=self.data.encode()
            ) from None


class RawLine(NamedTuple):
    """A line outside the SSE framing (the platform's ``{"error": ...}`` failure line)."""

    text: str


Item = ServerSentEvent | RawLine


def _one_line_each(texts: list[str]) -> bool:
    # One `in` per piece: a C search, unlike a count over the whole text. A plain loop, not
    # all() over a generator, which would resume a frame per event.
    for text in texts:  # noqa: SIM110
        if "\n" in text:
            return False
    return True


class SSEParser:
    """Turns response bytes into :class:`ServerSentEvent` and :class:`RawLine` items.

    Args:
        bare: give the data of an event with the default type (``message``) as a plain
            ``str`` instead of a :class:`ServerSentEvent`, for callers that only read the
            data of such events (chunk streams): one object fewer per event.
    """

    __slots__ = (
        "_after_cr",
        "_bare",
        "_data",
        "_decoder",
        "_event",
        "_id",
        "_parts",
        "_retry",
        "_started",
    )

    def __init__(self, *, bare: bool = False) -> None:
        self._bare = bare
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []  # the unfinished line, in pieces (no quadratic joins)
        self._started = False
        self._after_cr = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[Item | str]:
        """Parse the next bytes; return the items they complete."""
        text = self._decoder.decode(chunk)
        if not self._started:
            if not text:
                return []
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr:
            # The previous chunk ended with CR: an LF starting this one belongs to that CRLF.
            self._after_cr = False
            if text[:1] == "\n":
                text = text[1:]
        if "\n" not in text and "\r" not in text:
            if text:
                self._parts.append(text)
            return []
        self._parts.append(text)
        buffer = "".join(self._parts)
        self._after_cr = buffer.endswith("\r")
        if "\r" in buffer:
            buffer = buffer.replace("\r\n", "\n").replace("\r", "\n")
        items: list[Item | str] = []
        if not self._data and not self._event and "\n\n" in buffer:
            # The hot path: an LLM stream is `data: {...}` blocks, each ended by a blank
            # line, and a network chunk holds many whole blocks. The text after the last
            # blank line goes line by line below, so the parser's state is what reading
            # every line would leave.
            head, _, buffer = buffer.rpartition("\n\n")
            # Cut at every blank line that a `data: ` line follows, in one call. When no piece
            # holds a newline, every block was one `data: ` line and the pieces are the
            # events' data; a block of any other kind leaves a newline in some piece.
            found = head[6:].split("\n\ndata: ") if head[:6] == "data: " else []
            if found and _one_line_each(found):
                if self._bare:
                    items += found
                else:
                    items += [ServerSentEvent("message", d, self._id, self._retry) for d in found]
            else:
                for block in head.split("\n\n"):
                    for line in block.split("\n"):
                        self._line(line, items)
                    self._dispatch(items)
        lines = buffer.split("\n")
        rest = lines.pop()
        self._parts = [rest] if rest else []
        data = self._data
        for line in lines:
            # Nearly every line of an LLM stream is `data: ...` or blank.
            if line[:5] == "data:":
                data.append(line[6:] if line[5:6] == " " else line[5:])
            elif line:
                self._line(line, items)
            elif data:
                self._dispatch(items)
                data = self._data
            else:
                self._event = ""
        return items

    def pending_text(self) -> str:
        """The unterminated line received so far (the raw error line arrives without one)."""
        return "".join(self._parts)

    def close(self) -> list[Item | str]:
        """End of the body: parse what is left, and dispatch an unterminated event."""
        tail = "".join(self._parts) + self._decoder.decode(b"", final=True)
        if not self._started:
            tail = tail.removeprefix("\ufeff")
        self._parts = []
        items: list[Item | str] = []
        for line in tail.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if line:
                self._line(line, items)
        self._line("", items)
        return items

    def _dispatch(self, items: list[Item | str]) -> None:
        """A blank line: the event gathered so far (if it has data) is complete."""
        data = self._data
        if data:
            text = data[0] if len(data) == 1 else "\n".join(data)
            event = self._event or "message"
            if self._bare and event == "message":
                items.append(text)
            else:
                items.append(ServerSentEvent(event, text, self._id, self._retry))
            self._data = []
        self._event = ""

    def _line(self, line: str, items: list[Item | str]) -> None:
        if not line:
            self._dispatch(items)
            return
        first = line[0]
        if first == ":":
            return
        if first == "{":
            items.append(RawLine(line))
            return
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
