"""Generated images: base64 JSON, URL JSON and raw ``image/*`` bodies as one type.

An image only reads bytes; a download goes through the fetcher its client injected, so the
client's pool, timeouts and key rules apply (the key goes only to the chute's own origin).
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
from typing import Any, Final

import attrs

from .._core.decoding import UNMODELLED, decode_json, structure
from .._core.errors import DecodeError
from .._core.public import export

__all__ = ["AsyncImage", "AsyncImagesResponse"]

AsyncFetch = Callable[[str], Awaitable[bytes]]


def b64decode(text: str) -> builtins.bytes:
    """``base64.b64decode(text, validate=True)``, the same bytes and the same refusals.

    Raises:
        binascii.Error: for anything but plain base64 (whitespace included).
        ValueError: for a non-ASCII ``text``.
    """
    if sys.version_info >= (3, 11):
        # The C strict mode refuses what validate=True refuses, without its regex pass over
        # the whole text (the benchmark's S5, a 2 MB image, is within target only so).
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)  # pragma: no cover - Python 3.10


# The signatures that open each format (PNG: its 8-byte signature; JPEG: SOI then a marker).
_SIGNATURES: Final = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))


def image_kind(data: builtins.bytes) -> str | None:
    """``"png"`` or ``"jpeg"`` from the bytes' own signature (a base64 image has no media
    type, and a declared one may be wrong); ``None`` for anything else."""
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


@attrs.frozen(slots=True)
class ImageData:
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
        """The bytes held here (decoded from base64 if need be); ``None`` for a URL image."""
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

    def _shown(self, kind: str) -> builtins.bytes | None:
        """The bytes held here when they are an image of ``kind``; no download, no error
        (a notebook asks every representation and shows the one that answers)."""
        try:
            data = self._local()
        except DecodeError:
            return None
        return data if data is not None and image_kind(data) == kind else None

    def _repr_png_(self) -> builtins.bytes | None:
        """Jupyter's inline view of a PNG held here (base64 or raw); ``None`` otherwise."""
        return self._shown("png")

    def _repr_jpeg_(self) -> builtins.bytes | None:
        """Jupyter's inline view of a JPEG held here (base64 or raw); ``None`` otherwise."""
        return self._shown("jpeg")


@attrs.frozen(slots=True)
class AsyncImage(ImageData):
    """One generated image: ``await image.bytes()``, ``await image.save(path)``."""

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
class AsyncImagesResponse:
    """The answer of an image generation, whatever form the cord answered in."""

    created: int = 0
    data: list[AsyncImage] = attrs.field(factory=list)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


UNMODELLED[AsyncImagesResponse] = frozenset(
    {"background", "output_format", "quality", "size", "usage", "safety_identifier", "svg_usage"}
)
UNMODELLED[AsyncImage] = frozenset({"provider_specific_fields"})


def async_images_from_response(
    content: bytes, content_type: str | None, fetch: AsyncFetch
) -> AsyncImagesResponse:
    """An :class:`AsyncImagesResponse` from a JSON body or a raw ``image/*`` body.

    Raises:
        DecodeError: for a body that is neither.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("image/"):
        image = AsyncImage(content_type=media, data=content)
        return AsyncImagesResponse(created=int(time.time()), data=[image])
    decoded = structure(decode_json(content, content_type), AsyncImagesResponse, body=content)
    result = attrs.evolve(decoded, data=[attrs.evolve(i, fetch=fetch) for i in decoded.data])
    object.__setattr__(result, "raw", decoded.raw)
    return result


export(__all__, globals())
