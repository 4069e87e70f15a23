"""Classify what a stream yields: events pass, the platform's raw error line fails.

Rule: decisions about stream items are made here, for every stream the facades run.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import DecodeError, StreamError, detail_text
from .sse import RawLine, ServerSentEvent, SSEParser

__all__ = ["EventDecoder", "is_event_stream", "not_event_stream_error", "raw_line_error"]


def raw_line_error(text: str, partial_text: str = "") -> StreamError:
    """The :class:`StreamError` for a raw (unframed) line such as ``{"error": "boom"}``."""
    detail: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        detail = text
    else:
        detail = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    message = detail_text(detail) or text
    return StreamError(message, partial_text=partial_text, detail=detail)


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


class EventDecoder:
    """Bytes in, :class:`ServerSentEvent` out; the platform's raw error line raises.

    Raises:
        StreamError: from :meth:`feed` or :meth:`close` when the raw ``{"error": ...}`` line
            (or any other unframed line) arrives.
    """

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = SSEParser()

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk``."""
        return self._checked(self._parser.feed(chunk))

    def close(self) -> list[ServerSentEvent]:
        """Events left at the end of the body."""
        return self._checked(self._parser.close())

    @staticmethod
    def _checked(items: list[ServerSentEvent | RawLine]) -> list[ServerSentEvent]:
        for item in items:
            if isinstance(item, RawLine):
                raise raw_line_error(item.text)
        return items  # type: ignore[return-value]
