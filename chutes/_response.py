"""The response of a plain call: status, headers, body bytes and the platform's metadata."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._core.decoding import decode_json
from ._core.models import Quota, invocation_id, quota_from_headers
from ._core.public import export

__all__ = ["Response"]


class Response:
    """A complete HTTP response from a chute.

    Attributes:
        status_code: the HTTP status.
        headers: the response headers (case-insensitive mapping).
        url: the URL that was requested.
        method: the HTTP method.
        path: the file the body was written to (``save_to=``), else ``None``; ``content``
            is then empty.
    """

    __slots__ = ("_content", "_seconds", "headers", "method", "path", "status_code", "url")

    def __init__(
        self,
        *,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes | None,
        url: str,
        method: str,
        seconds: float,
        path: Path | None = None,
    ) -> None:
        self.path = path
        self.status_code = status_code
        self.headers = headers
        self._content = content
        self.url = url
        self.method = method
        self._seconds = seconds

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.method} {self.url}>"

    @property
    def elapsed(self) -> _dt.timedelta:
        """The time from sending the request to the end of the body (a stream: its headers)."""
        return _dt.timedelta(seconds=self._seconds)

    @property
    def content(self) -> bytes:
        """The body bytes.

        Raises:
            RuntimeError: for a streamed response, whose body belongs to its stream.
        """
        if self._content is None:
            raise RuntimeError("the body of a streamed response is read through its stream")
        return self._content

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased (``"image/jpeg"``), or ``None``."""
        raw = self.headers.get("content-type")
        if not raw:
            return None
        return raw.split(";", 1)[0].strip().lower() or None

    @property
    def encoding(self) -> str:
        """The charset named by the content type, else UTF-8."""
        raw = self.headers.get("content-type") or ""
        for param in raw.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded as text (invalid bytes replaced; UTF-8 when the charset it names
        is unknown, or one Python can only decode strictly, such as ``idna``)."""
        try:
            return self.content.decode(self.encoding, errors="replace")
        except (LookupError, UnicodeError, ValueError):
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            chutes.DecodeError: when the body is not valid JSON, with the body attached.
        """
        return decode_json(self.content, headers=self.headers)

    @property
    def invocation_id(self) -> str | None:
        """The platform's ``X-Chutes-InvocationID``, or ``None`` when absent."""
        return invocation_id(self.headers)

    @property
    def quota(self) -> Quota | None:
        """The quota from the ``X-Chutes-Quota-*`` headers, or ``None`` when absent."""
        return quota_from_headers(self.headers)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the body bytes to ``path`` and return it as a :class:`~pathlib.Path`."""
        target = Path(path)
        target.write_bytes(self.content)
        return target


export(__all__, globals())
