"""What a client learned of the platform, kept for a while.

Rule: a small thread-safe cache with expiry (the clock is injected); it holds each chute's
details (by the name or id it was looked up by, and by its base URL, so an error from a call
to it can name its cords) and each gateway's models (for prices and "model not found"
suggestions). Only lookups fill it: no call is made to fill it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

from .platform import ChuteInfo, GatewayModel

__all__: list[str] = []

TTL: Final = 300.0  # seconds: a slug or a model list rarely changes within minutes


class Known:
    """The cache; shared by a client and its ``with_options`` copies.

    Args:
        ttl: how long an entry is trusted, in seconds.
        clock: a monotonic clock (injected in tests).
    """

    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}

    def _get(self, kind: str, key: str) -> Any:
        with self._lock:
            found = self._entries.get((kind, key))
            if found is None:
                return None
            expires, value = found
            if self._clock() >= expires:
                del self._entries[(kind, key)]
                return None
            return value

    def _put(self, kind: str, key: str, value: Any) -> None:
        with self._lock:
            self._entries[(kind, key)] = (self._clock() + self._ttl, value)

    def chute(self, key: str) -> ChuteInfo | None:
        """A chute's details, by the name, id or base URL it was known by."""
        found: ChuteInfo | None = self._get("chute", key)
        return found

    def add_chute(self, info: ChuteInfo, *keys: str) -> None:
        """Keep ``info`` under each of ``keys``."""
        for key in keys:
            self._put("chute", key, info)

    def models(self, base_url: str) -> list[GatewayModel] | None:
        """A gateway's models, if known."""
        found: list[GatewayModel] | None = self._get("models", base_url)
        return found

    def add_models(self, base_url: str, models: list[GatewayModel]) -> None:
        """Keep a gateway's models."""
        self._put("models", base_url, models)
