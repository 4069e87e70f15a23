"""A body's Content-Encoding, decoded in bounded steps and checked to its end.

Rule: the client decodes compressed bodies itself (httpx would, but checks neither of the
two things that matter here): every step yields at most :data:`STEP` bytes and the decoded
size is counted as it grows, so a small compressed body cannot expand past the limit in
memory (a "gzip bomb"); and a compressed stream must reach its own end marker, so a body
cut short (even one whose Content-Length or chunked framing looked complete) is never
returned as if whole. Brotli is decoded when the ``brotli`` package (1.2 or newer, whose
decoder can bound its output) is installed; it is the caller that hands it in.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Final, Protocol

from .errors import DecodeError, ResponseTooLargeError

__all__: list[str] = []

STEP: Final = 64 * 1024


class _Codec(Protocol):
    def step(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> bytes: ...


class _Zlib:
    """gzip (``wbits`` 31) and deflate: zlib's format, or raw deflate as some servers send."""

    def __init__(self, name: str, wbits: int) -> None:
        self._name = name
        self._raw_fallback = name == "deflate"
        self._d = zlib.decompressobj(wbits)

    def step(self, data: bytes) -> Iterator[bytes]:
        d = self._d
        while not d.eof:
            try:
                out = d.decompress(data, STEP)
            except zlib.error as exc:
                if not self._raw_fallback:
                    raise DecodeError(
                        f"the {self._name} body is corrupt: {exc}", body=b""
                    ) from None
                self._raw_fallback = False
                self._d = d = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = d.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < STEP:
                return  # all input taken, and no output left waiting in zlib

    def finish(self) -> bytes:
        tail = self._d.flush()
        if not self._d.eof:
            raise DecodeError(
                f"the body ended before its {self._name} data did: it was cut short", body=b""
            )
        return tail


class _Brotli:
    def __init__(self, brotli: Any) -> None:
        self._d = brotli.Decompressor()
        self._error = brotli.error

    def step(self, data: bytes) -> Iterator[bytes]:
        d = self._d
        try:
            out = d.process(data, output_buffer_limit=STEP)
            while True:
                if out:
                    yield out
                if d.can_accept_more_data() or d.is_finished():
                    return
                out = d.process(b"", output_buffer_limit=STEP)
        except self._error as exc:
            raise DecodeError(f"the br body is corrupt: {exc}", body=b"") from None

    def finish(self) -> bytes:
        if not self._d.is_finished():
            raise DecodeError("the body ended before its br data did: it was cut short", body=b"")
        return b""


def accept_encoding(brotli: Any) -> str:
    """The ``Accept-Encoding`` the client can honour."""
    return "gzip, deflate, br" if _usable(brotli) else "gzip, deflate"


def _usable(brotli: Any) -> bool:
    return brotli is not None and hasattr(brotli.Decompressor(), "can_accept_more_data")


class BodyDecoder:
    """Decodes one body: :meth:`feed` the bytes as they arrive, then :meth:`finish`.

    Args:
        encoding: the response's ``Content-Encoding`` (``None`` or ``identity``: as is).
        limit: the most decoded bytes the body may hold (``None``: no limit).
        brotli: the ``brotli`` module, if installed.

    Raises:
        DecodeError: for an encoding the client cannot decode, corrupt data, or (from
            :meth:`finish`) a compressed stream that was cut short.
        ResponseTooLargeError: past ``limit``.
    """

    def __init__(self, encoding: str | None, *, limit: int | None, brotli: Any = None) -> None:
        self._limit = limit
        self.size = 0
        self._codecs: list[_Codec] = []
        names = [n.strip().lower() for n in (encoding or "").split(",") if n.strip()]
        # Encodings are listed in the order they were applied: decode the last one first.
        for name in reversed(names):
            if name == "identity":
                continue
            if name in ("gzip", "x-gzip"):
                self._codecs.append(_Zlib("gzip", 16 + zlib.MAX_WBITS))
            elif name == "deflate":
                self._codecs.append(_Zlib("deflate", zlib.MAX_WBITS))
            elif name == "br" and _usable(brotli):
                self._codecs.append(_Brotli(brotli))
            else:
                raise DecodeError(
                    f"the body's Content-Encoding {name!r} is not supported", body=b""
                )

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next received bytes (each at most :data:`STEP`)."""
        yield from self._counted(self._through(data, 0))

    def finish(self) -> Iterator[bytes]:
        """The last decoded pieces; raises if a compressed stream was cut short."""
        for index in range(len(self._codecs)):
            tail = self._codecs[index].finish()
            yield from self._counted(self._through(tail, index + 1) if tail else iter(()))

    def _through(self, data: bytes, start: int) -> Iterator[bytes]:
        if start == len(self._codecs):
            if data:
                yield data
            return
        for piece in self._codecs[start].step(data):
            yield from self._through(piece, start + 1)

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        limit = self._limit
        for piece in pieces:
            self.size += len(piece)
            if limit is not None and self.size > limit:
                raise ResponseTooLargeError(
                    f"the response body decodes to more than {limit} bytes "
                    "(ResponseLimits.body; save_to= writes a large body to a file instead)",
                    limit=limit,
                )
            yield piece
