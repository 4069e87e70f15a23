"""Public value types shared by every response: quota and response metadata.

Rule: models are plain frozen attrs classes; reading them from the wire happens in
functions here or in ``decoding``, never in the models themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from .errors import INVOCATION_ID_HEADER

__all__ = ["Quota", "invocation_id", "quota_from_headers"]

_QUOTA_HEADERS: Final = ("x-chutes-quota-total", "x-chutes-quota-used", "x-chutes-quota-remaining")


@attrs.frozen(slots=True)
class Quota:
    """The account's quota as the platform reported it on a response.

    Attributes:
        total: the quota for the period, if sent.
        used: how much is used, if sent.
        remaining: how much is left, if sent.
    """

    total: float | None
    used: float | None
    remaining: float | None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number else None


def quota_from_headers(headers: Mapping[str, str]) -> Quota | None:
    """The :class:`Quota` from ``X-Chutes-Quota-*`` headers, or ``None`` when none was sent."""
    values = [_number(headers.get(name)) for name in _QUOTA_HEADERS]
    if all(v is None for v in values):
        return None
    return Quota(*values)


def invocation_id(headers: Mapping[str, str]) -> str | None:
    """The platform's ``X-Chutes-InvocationID``, or ``None``."""
    return headers.get(INVOCATION_ID_HEADER)
