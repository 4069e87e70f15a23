"""What generated images share, blocking or asyncio: their data and its base64 decoding.

``Image`` (``Client``) and ``AsyncImage`` (``AsyncClient``) are defined in
``chutes/_async/images.py`` and its generated twin; they add the download verbs.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import sys

import attrs

from ._core.errors import DecodeError

__all__: list[str] = []


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
