"""A batch's progress: a tqdm bar (``tqdm.auto``, a widget in notebooks) when asked for and
installed, otherwise one log line at INFO on the ``chutes`` logger every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from ._core.batch import BatchReport

__all__: list[str] = []

LOGGER: Final = logging.getLogger("chutes")
LOG_EVERY: Final = 10.0  # seconds between log lines without tqdm
POSTFIX_EVERY: Final = 0.5  # seconds between updates of the bar's counters


def _cost(report: BatchReport) -> str:
    return "?" if report.cost_usd is None else f"${report.cost_usd:.4f}"


class Progress:
    """Shows a run's progress, or nothing when not ``enabled``.

    Args:
        enabled: whether to show anything.
        total: the lines in the input (the bar's total).
        skipped: the lines already done (a resumed run's bar starts there).
        clock: a monotonic clock.
    """

    def __init__(
        self,
        enabled: bool,
        *,
        total: int,
        skipped: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._bar: Any = None
        self._log = False
        self._last = clock()
        self.done = skipped
        self.total = total
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._log = True
            LOGGER.info("batch: %d/%d done (%d already ok)", skipped, total, skipped)
            return
        self._bar = tqdm(total=total, initial=skipped, unit="req", desc="chutes batch")

    def update(self, report: Callable[[], BatchReport]) -> None:
        """One more line done; ``report`` gives the run so far when the counters are shown."""
        self.done += 1
        if self._bar is None and not self._log:
            return
        now = self._clock()
        if self._bar is not None:
            self._bar.update(1)
            if now - self._last >= POSTFIX_EVERY:
                self._last = now
                self._postfix(report())
        elif now - self._last >= LOG_EVERY:
            self._last = now
            self._line(report())

    def _postfix(self, report: BatchReport) -> None:
        self._bar.set_postfix(
            failed=report.failed,
            tokens=report.usage.total_tokens,
            cost=_cost(report),
            refresh=False,
        )

    def _line(self, report: BatchReport) -> None:
        LOGGER.info(
            "batch: %d/%d done, %d failed, %d tokens, cost %s",
            self.done,
            self.total,
            report.failed,
            report.usage.total_tokens,
            _cost(report),
        )

    def close(self, report: BatchReport) -> None:
        """Show the final counters and close the bar."""
        if self._bar is not None:
            self._postfix(report)
            self._bar.close()
            self._bar = None
        elif self._log:
            self._line(report)
            self._log = False
