"""Usage accounting: calls, failures, retries, tokens, the last quota and the estimated
spend, per client.

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
from .platform import ModelPrice, estimate_cost_usd
from .public import export

__all__ = ["ChuteUsage", "ModelUsage", "UsageSnapshot"]


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
class ModelUsage:
    """The tokens one model's answers reported.

    Attributes:
        prompt_tokens: prompt tokens.
        completion_tokens: completion tokens.
        total_tokens: total tokens.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@attrs.frozen(slots=True)
class UsageSnapshot(ChuteUsage):
    """A client's usage at one moment (``client.usage``).

    Attributes:
        by_chute: the same counters keyed by the chute's base URL.
        by_model: the tokens per model (the ``model`` the answers named).
        quota: the last quota the server reported, or ``None``.
        cost_usd: the estimated spend in USD, from the gateway's model prices (fetched once
            when a model's price is first needed); ``None`` when a model that used tokens has
            no known price.
    """

    by_chute: Mapping[str, ChuteUsage] = attrs.field(factory=dict)
    by_model: Mapping[str, ModelUsage] = attrs.field(factory=dict)
    quota: Quota | None = None
    cost_usd: float | None = None


_FIELDS = ("requests", "failures", "retries", "prompt_tokens", "completion_tokens", "total_tokens")


class UsageTracker:
    """Thread-safe counters; every client made by ``with_options`` shares its parent's."""

    __slots__ = ("_asked", "_by_chute", "_by_model", "_lock", "_prices", "_quota")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_chute: dict[str, list[int]] = {}
        self._by_model: dict[str, list[int]] = {}
        self._quota: Quota | None = None
        self._prices: Mapping[str, ModelPrice] | None = None
        self._asked = False

    def claim_prices(self) -> bool:
        """Whether the caller should fetch the prices now: tokens were counted for a model
        and nobody asked yet (true once per tracker)."""
        with self._lock:
            if self._asked or not self._by_model:
                return False
            self._asked = True
            return True

    def release_prices(self) -> None:
        """Undo :meth:`claim_prices` (the fetch could not be started)."""
        with self._lock:
            self._asked = False

    def set_prices(self, prices: Mapping[str, ModelPrice]) -> None:
        """The gateway's prices per model (``{}`` when they could not be read)."""
        with self._lock:
            self._prices = dict(prices)

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

    def record_tokens(
        self, chute: str, prompt: int, completion: int, total: int, model: str | None = None
    ) -> None:
        """Add the tokens a response reported (to its model too, when it named one)."""
        with self._lock:
            self._add(chute, 3, prompt)
            self._add(chute, 4, completion)
            self._add(chute, 5, total)
            if model:
                counts = self._by_model.setdefault(model, [0, 0, 0])
                counts[0] += prompt
                counts[1] += completion
                counts[2] += total

    def snapshot(self) -> UsageSnapshot:
        """An immutable copy of the counters."""
        with self._lock:
            per = {k: ChuteUsage(*v) for k, v in self._by_chute.items()}
            models = {k: ModelUsage(*v) for k, v in self._by_model.items()}
            quota, prices = self._quota, self._prices
        totals = {f: sum(getattr(u, f) for u in per.values()) for f in _FIELDS}
        tokens = {m: (u.prompt_tokens, u.completion_tokens) for m, u in models.items()}
        return UsageSnapshot(
            **totals,
            by_chute=MappingProxyType(per),
            by_model=MappingProxyType(models),
            quota=quota,
            cost_usd=None if prices is None else estimate_cost_usd(tokens, prices),
        )


export(__all__, globals())
