"""The progress of ``batch.run(progress=True)``: a tqdm bar, right after a resume, and a log
line at INFO when tqdm is not installed."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from batch_kit import Runner, chat_lines
from batch_server import BatchServer, detail


class RecordingBar:
    """Stands in for ``tqdm.auto.tqdm``: records what the run tells its bar."""

    made: ClassVar[list[RecordingBar]] = []

    def __init__(self, *, total: int, initial: int, **options: Any) -> None:
        self.total = total
        self.initial = initial
        self.n = initial
        self.postfix: dict[str, Any] = {}
        self.closed = False
        RecordingBar.made.append(self)

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = values

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordingBar]:
    """The bars the runs draw (tqdm.auto.tqdm replaced by a recorder)."""
    import tqdm.auto

    RecordingBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    return RecordingBar.made


def test_the_bar_counts_every_line(
    runner: Runner, bars: list[RecordingBar], tmp_path: Path
) -> None:
    """The bar's total is the input's size, it ends full, and it is closed."""
    runner.run(chat_lines(6), tmp_path / "out.jsonl", progress=True)
    (bar,) = bars
    assert (bar.total, bar.initial, bar.n, bar.closed) == (6, 0, 6, True)


def test_after_a_resume_the_bar_starts_at_the_skipped_count(
    runner: Runner, bars: list[RecordingBar], tmp_path: Path
) -> None:
    """A resumed run's bar starts at the lines already ok and ends at the total."""
    output = tmp_path / "out.jsonl"
    done = [{"custom_id": f"id-{i}", "ok": True} for i in (0, 2)]
    output.write_text("".join(json.dumps(line) + "\n" for line in done))
    runner.run(chat_lines(5), output, resume=True, progress=True)
    (bar,) = bars
    assert (bar.total, bar.initial, bar.n) == (5, 2, 5)


def test_the_bar_shows_failed_tokens_and_cost(
    runner: Runner, server: BatchServer, bars: list[RecordingBar], tmp_path: Path
) -> None:
    """The bar's counters say how many failed, the tokens and the estimated cost."""
    server.prices = {"m": (1.0, 1.0)}
    server.answer_for("q1", detail(400, "no"))
    runner.run(chat_lines(3), tmp_path / "out.jsonl", gateway=True, progress=True)
    (bar,) = bars
    assert bar.postfix == {"failed": 1, "tokens": 60, "cost": "$0.0001"}


def test_no_bar_unless_asked(runner: Runner, bars: list[RecordingBar], tmp_path: Path) -> None:
    """Without progress=True nothing is drawn."""
    runner.run(chat_lines(2), tmp_path / "out.jsonl")
    assert bars == []


def test_without_tqdm_progress_is_logged(
    runner: Runner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Without tqdm the run logs its progress at INFO on the chutes logger."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # the import fails
    with caplog.at_level(logging.INFO, logger="chutes"):
        runner.run(chat_lines(3), tmp_path / "out.jsonl", progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch:")]
    assert lines[0] == "batch: 0/3 done (0 already ok)"
    assert lines[-1] == "batch: 3/3 done, 0 failed, 90 tokens, cost ?"
