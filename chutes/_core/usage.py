"""Usage accounting: calls, failures, retries, tokens and the last quota, per client.

Rule: one lock-protected tracker per connection pool; readers get immutable snapshots, so
reading is safe while other threads or tasks make calls. A lock is not I/O: it is held for
a few additions, never across an await.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from .models import Quota, quota_from_headers
from .public import export

__all__ = ["ChuteUsage", "UsageSnapshot"]


@attrs.frozen(slots=True)
class ChuteUsage:
    """Counters for one chute (or for the whole client).

    Attributes:
        requests: calls made (not attempts).
        failures: calls that ended in an error.
        retries: extra attempts made.
        prompt_tokens: prompt tokens the server reported.
        completion_tokens: completion tokens the server reported.
        total_tokens: total tokens the server reported.
    """

    requests: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@attrs.frozen(slots=True)
class UsageSnapshot(ChuteUsage):
    """A client's usage at one moment (``client.usage``).

    Attributes:
        by_chute: the same counters keyed by the chute's base URL.
        quota: the last quota the server reported, or ``None``.
    """

    by_chute: Mapping[str, ChuteUsage] = attrs.field(factory=dict)
    quota: Quota | None = None


_FIELDS = ("requests", "failures", "retries", "prompt_tokens", "completion_tokens", "total_tokens")


class UsageTracker:
    """Thread-safe counters; every client made by ``with_options`` shares its parent's."""

    __slots__ = ("_by_chute", "_lock", "_quota")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_chute: dict[str, list[int]] = {}
        self._quota: Quota | None = None

    def _add(self, chute: str, index: int, amount: int) -> None:
        counters = self._by_chute.get(chute)
        if counters is None:
            counters = self._by_chute[chute] = [0] * len(_FIELDS)
        counters[index] += amount

    def record_call(
        self,
        chute: str,
        *,
        failed: bool,
        retries: int,
        quota: Quota | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Count one finished call to ``chute``, with its quota or the headers that carry it."""
        if quota is None and headers is not None:
            quota = quota_from_headers(headers)
        with self._lock:
            self._add(chute, 0, 1)
            self._add(chute, 1, int(failed))
            self._add(chute, 2, retries)
            if quota is not None:
                self._quota = quota

    def record_failure(self, chute: str) -> None:
        """Count a failure that came after the call was counted (a stream that broke)."""
        with self._lock:
            self._add(chute, 1, 1)

    def record_tokens(self, chute: str, prompt: int, completion: int, total: int) -> None:
        """Add the tokens a response reported."""
        with self._lock:
            self._add(chute, 3, prompt)
            self._add(chute, 4, completion)
            self._add(chute, 5, total)

    def snapshot(self) -> UsageSnapshot:
        """An immutable copy of the counters."""
        with self._lock:
            per = {k: ChuteUsage(*v) for k, v in self._by_chute.items()}
            quota = self._quota
        totals = {f: sum(getattr(u, f) for u in per.values()) for f in _FIELDS}
        return UsageSnapshot(**totals, by_chute=MappingProxyType(per), quota=quota)


export(__all__, globals())
