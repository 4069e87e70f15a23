"""Generated images: base64 JSON, URL JSON and raw ``image/*`` bodies as one type.

Images only read bytes; any download goes through the fetcher the client injected, so the
client's pool, timeouts and key rules apply (the key goes only to the chute's own host).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ._core.decoding import UNMODELLED, decode_json, structure
from ._core.errors import DecodeError

__all__ = ["Image", "ImagesResponse", "images_from_response"]

Fetch = Callable[[str], bytes]
AsyncFetch = Callable[[str], Awaitable[bytes]]


@attrs.frozen(slots=True)
class Image:
    """One generated image: ``b64_json``, a ``url``, or the raw bytes a cord answered with.

    Attributes:
        b64_json: the image as base64, when the server sent it that way.
        url: where the image can be downloaded, when the server sent a URL.
        revised_prompt: the prompt the model actually used, if it says.
        content_type: the media type of raw bytes (``image/jpeg``), when known.
    """

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    content_type: str | None = None
    # builtins.bytes: inside the class, `bytes` names the method below.
    _data: builtins.bytes | None = attrs.field(default=None, repr=False, alias="data")
    _fetch: Fetch | None = attrs.field(default=None, repr=False, eq=False, alias="fetch")
    _afetch: AsyncFetch | None = attrs.field(default=None, repr=False, eq=False, alias="afetch")

    def _local(self) -> builtins.bytes | None:
        if self._data is not None:
            return self._data
        if self.b64_json is not None:
            try:
                return base64.b64decode(self.b64_json, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(
                    f"b64_json is not valid base64: {exc}", body=self.b64_json.encode()
                ) from None
        return None

    def bytes(self) -> builtins.bytes:
        """The image bytes: decoded, or downloaded from ``url`` with the client's pool.

        Raises:
            RuntimeError: for a URL image of an ``AsyncClient`` (use :meth:`abytes`).
            DecodeError: when the image has neither data nor a URL.
        """
        local = self._local()
        if local is not None:
            return local
        if self.url is None:
            raise DecodeError("the image has neither data nor a URL", body=b"")
        if self._fetch is None:
            raise RuntimeError("this image comes from an AsyncClient: use `await image.abytes()`")
        return self._fetch(self.url)

    async def abytes(self) -> builtins.bytes:
        """The image bytes; downloads a URL image with an ``AsyncClient``'s pool."""
        local = self._local()
        if local is not None:
            return local
        if self.url is not None and self._afetch is not None:
            return await self._afetch(self.url)
        return self.bytes()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image bytes to ``path`` and return it as a :class:`~pathlib.Path`."""
        target = Path(path)
        target.write_bytes(self.bytes())
        return target

    async def asave(self, path: str | os.PathLike[str]) -> Path:
        """Like :meth:`save`, downloading with an ``AsyncClient`` when needed."""
        target = Path(path)
        target.write_bytes(await self.abytes())
        return target


@attrs.frozen(slots=True)
class ImagesResponse:
    """The answer of an image generation, whatever form the cord answered in."""

    created: int = 0
    data: list[Image] = attrs.field(factory=list)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


UNMODELLED[ImagesResponse] = frozenset(
    {"background", "output_format", "quality", "size", "usage", "safety_identifier", "svg_usage"}
)
UNMODELLED[Image] = frozenset({"provider_specific_fields"})


def images_from_response(
    content: bytes,
    content_type: str | None,
    *,
    fetch: Fetch | None = None,
    afetch: AsyncFetch | None = None,
) -> ImagesResponse:
    """An :class:`ImagesResponse` from a JSON body or a raw ``image/*`` body.

    Raises:
        DecodeError: for a body that is neither.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("image/"):
        image = Image(content_type=media, data=content)
        return ImagesResponse(created=int(time.time()), data=[image])
    decoded = structure(decode_json(content, content_type), ImagesResponse, body=content)
    if fetch is None and afetch is None:
        return decoded
    images = [attrs.evolve(i, fetch=fetch, afetch=afetch) for i in decoded.data]
    result = attrs.evolve(decoded, data=images)
    object.__setattr__(result, "raw", decoded.raw)
    return result
