"""Generated images: base64 JSON, URL JSON and raw ``image/*`` bodies as one type.

Images only read bytes; any download goes through the fetcher the client injected, so the
client's pool, timeouts and key rules apply (the key goes only to the chute's own origin).
``Image`` belongs to ``Client``; ``AsyncImage`` to ``AsyncClient``, with the same names
awaited.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from ._core.decoding import UNMODELLED, decode_json, structure
from ._core.errors import DecodeError

__all__ = [
    "AsyncImage",
    "AsyncImagesResponse",
    "Image",
    "ImagesResponse",
    "async_images_from_response",
    "images_from_response",
]

Fetch = Callable[[str], bytes]
AsyncFetch = Callable[[str], Awaitable[bytes]]


def b64decode(text: str) -> builtins.bytes:
    """``base64.b64decode(text, validate=True)``, the same bytes and the same refusals.

    Raises:
        binascii.Error: for anything but plain base64 (whitespace included).
        ValueError: for a non-ASCII ``text``.
    """
    if sys.version_info >= (3, 11):
        # The C strict mode checks what validate=True checks with a regex over the whole
        # text, without the regex pass and the ASCII copy: for a 2 MB image, most of the
        # decoding's cost.
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)  # pragma: no cover - Python 3.10


@attrs.frozen(slots=True)
class _ImageData:
    """What every generated image holds, however it arrived.

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
    # builtins.bytes: inside the subclasses, `bytes` names their method.
    _data: builtins.bytes | None = attrs.field(default=None, repr=False, alias="data")

    def _local(self) -> builtins.bytes | None:
        if self._data is not None:
            return self._data
        if self.b64_json is not None:
            try:
                return b64decode(self.b64_json)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(
                    f"b64_json is not valid base64: {exc}", body=self.b64_json.encode()
                ) from None
        if self.url is None:
            raise DecodeError("the image has neither data nor a URL", body=b"")
        return None


@attrs.frozen(slots=True)
class Image(_ImageData):
    """One generated image from a :class:`chutes.Client`."""

    _fetch: Fetch | None = attrs.field(default=None, repr=False, eq=False, alias="fetch")

    def bytes(self) -> builtins.bytes:
        """The image bytes: decoded, or downloaded from ``url`` with the client's pool.

        Raises:
            DecodeError: when the image has neither data nor a URL, or bad base64.
            RuntimeError: for a URL image built without a client.
        """
        local = self._local()
        if local is not None:
            return local
        if self._fetch is None or self.url is None:
            raise RuntimeError("this image has no client to download its URL with")
        return self._fetch(self.url)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image bytes to ``path`` and return it as a :class:`~pathlib.Path`."""
        target = Path(path)
        target.write_bytes(self.bytes())
        return target


@attrs.frozen(slots=True)
class AsyncImage(_ImageData):
    """One generated image from a :class:`chutes.AsyncClient`: ``await image.bytes()``."""

    _fetch: AsyncFetch | None = attrs.field(default=None, repr=False, eq=False, alias="fetch")

    async def bytes(self) -> builtins.bytes:
        """The image bytes: decoded, or downloaded from ``url`` with the client's pool.

        Raises:
            DecodeError: when the image has neither data nor a URL, or bad base64.
            RuntimeError: for a URL image built without a client.
        """
        local = self._local()
        if local is not None:
            return local
        if self._fetch is None or self.url is None:
            raise RuntimeError("this image has no client to download its URL with")
        return await self._fetch(self.url)

    async def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image bytes to ``path`` and return it as a :class:`~pathlib.Path`."""
        target = Path(path)
        target.write_bytes(await self.bytes())
        return target


@attrs.frozen(slots=True)
class ImagesResponse:
    """The answer of an image generation, whatever form the cord answered in."""

    created: int = 0
    data: list[Image] = attrs.field(factory=list)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


@attrs.frozen(slots=True)
class AsyncImagesResponse:
    """The answer of an image generation on an ``AsyncClient``: ``await data[0].bytes()``."""

    created: int = 0
    data: list[AsyncImage] = attrs.field(factory=list)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


UNMODELLED[ImagesResponse] = UNMODELLED[AsyncImagesResponse] = frozenset(
    {
        "background",
        "output_format",
        "quality",
        "size",
        "usage",
        "safety_identifier",
        "svg_usage",
    }
)
UNMODELLED[Image] = UNMODELLED[AsyncImage] = frozenset({"provider_specific_fields"})

R = TypeVar("R", ImagesResponse, AsyncImagesResponse)


def _from_response(cls: type[R], content: bytes, content_type: str | None, **injected: Any) -> R:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    image_cls: type[Image] | type[AsyncImage] = Image if cls is ImagesResponse else AsyncImage
    if media.startswith("image/"):
        image = image_cls(content_type=media, data=content)
        return cls(created=int(time.time()), data=[image])  # type: ignore[list-item]
    decoded = structure(decode_json(content, content_type), cls, body=content)
    images = [attrs.evolve(i, **injected) for i in decoded.data]
    result = attrs.evolve(decoded, data=images)
    object.__setattr__(result, "raw", decoded.raw)
    return result


def images_from_response(
    content: bytes, content_type: str | None, *, fetch: Fetch | None = None
) -> ImagesResponse:
    """An :class:`ImagesResponse` from a JSON body or a raw ``image/*`` body.

    Raises:
        DecodeError: for a body that is neither.
    """
    return _from_response(ImagesResponse, content, content_type, fetch=fetch)


def async_images_from_response(
    content: bytes, content_type: str | None, *, fetch: AsyncFetch | None = None
) -> AsyncImagesResponse:
    """An :class:`AsyncImagesResponse` from a JSON body or a raw ``image/*`` body.

    Raises:
        DecodeError: for a body that is neither.
    """
    return _from_response(AsyncImagesResponse, content, content_type, fetch=fetch)
