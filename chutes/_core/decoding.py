"""Body decoding: JSON bodies of success responses.

Rule: a success body that is not what the call expects raises :class:`DecodeError` with the
body attached; nothing is silently turned into ``None``.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import DecodeError

__all__ = ["decode_json"]


def decode_json(content: bytes, content_type: str | None) -> Any:
    """Parse a JSON body.

    Raises:
        DecodeError: naming the content type and the parser's complaint.
    """
    try:
        return json.loads(content)
    except ValueError as exc:
        snippet = content[:200].decode("utf-8", errors="replace")
        raise DecodeError(
            f"expected a JSON body but got {content_type or 'no content type'} "
            f"({exc}): {snippet!r}",
            body=content,
            content_type=content_type,
        ) from None
