"""``chute.batch``: many requests to one chute, paced, retried, resumable.

``run`` writes each result to a JSONL file as it finishes; ``stream`` yields them. What a
line means, what a result and an output line hold, and how the run reacts to the
platform's answers are decided in ``chutes._core.batch``; this module runs the workers,
sends each line's attempts, sleeps the waits the control hands out and writes the lines.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import Final

from .._core.batch import (
    BatchLine,
    BatchPolicy,
    BatchReport,
    BatchResult,
    BatchSettings,
    Control,
    failure_result,
    result_line,
    success_result,
    tokens,
)
from .._core.config import NOT_GIVEN
from .._core.errors import ChutesError, ConfigurationError
from .._core.platform import ModelPrice
from .._core.public import export
from .._core.requests import Call
from .._core.targets import Target, resolve_target
from .._jsonl import Requests, ResultsFile, Source, file_errors, scan
from .._progress import Progress
from .._response import Response
from .._runtime import AsyncRuntime
from .caller import AsyncCaller, CallRecord

__all__ = ["AsyncBatch", "AsyncBatchStream"]

WAKE_EVERY: Final = 0.25  # the longest a waiting worker sleeps before it looks again


class AsyncBatch:
    """Many requests to one chute (``chute.batch``, ``client.llm.batch`` for the gateway).

    Each line of the input is one request: the OpenAI batch form ``{"custom_id",
    "method", "url", "body"}`` (``url`` is a path on the chute) or the short chat form
    ``{"custom_id", "model", "messages", ...}``. A line without ``custom_id`` gets its
    line number; a duplicate id is refused before anything is sent.

    Pacing: at most ``concurrency`` requests are in flight, and with ``rate_limit``
    (requests per minute) their starts are spaced; the client's own ``rate_limit=`` applies
    on top. A run of capacity 429s halves the pace for a while, an edge 429 pauses every
    worker (see :class:`chutes.BatchPolicy`). A 402 or a daily-limit 429 stops starting
    requests (those in flight finish) and the report says why and, for a quota, when it
    resets; so does ``max_cost_usd`` once the estimated spend reaches it.

    Retries are per line: every attempt is sent once (the client's own retries are off
    for it) and a failed one is sent again, as the client's :class:`chutes.RetryPolicy`
    says, up to ``max_attempts`` attempts, with the very same body bytes, which the
    platform bills as a reroll.
    """

    __slots__ = ("_caller", "_target")

    def __init__(self, caller: AsyncCaller, target: Target) -> None:
        self._caller = caller
        self._target = target

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._target.base_url}>"

    async def run(
        self,
        requests: Requests,
        output: str | os.PathLike[str],
        *,
        concurrency: int = 8,
        rate_limit: float | None = None,
        max_attempts: int = 3,
        resume: bool = False,
        progress: bool = False,
        max_cost_usd: float | None = None,
        policy: BatchPolicy | None = None,
    ) -> BatchReport:
        """Send every request and append each result to ``output`` as it finishes.

        Args:
            requests: a JSONL path, or an iterable of dicts (one per request); read
                twice, lazily (once to check every line and id, once to send).
            output: the results file (JSONL): one line per request, ``{"custom_id",
                "ok", "response", "error", "usage", "attempts", "latency_ms"}``, each
                written whole, at once.
            concurrency: the most requests in flight.
            rate_limit: the most requests started per minute (attempts count), or None.
            max_attempts: attempts per request, the first included.
            resume: continue an earlier run into the same ``output``: requests already
                ok there are skipped, the others tried again (the file keeps one line
                per request). Without it an ``output`` that holds results is refused.
            progress: draw a progress bar (tqdm, the ``[progress]`` extra) with done,
                failed, tokens and cost; without tqdm, log a line at INFO now and then.
            max_cost_usd: stop starting requests once the estimated spend (reported
                tokens at the gateway's prices) reaches this.
            policy: how the run reacts to 429s (:class:`chutes.BatchPolicy`).

        Returns:
            The :class:`chutes.BatchReport`.

        Raises:
            ConfigurationError: for an invalid option, input line, duplicate id, or an
                ``output`` holding results without ``resume``; before any request.
            ConfigurationError: also when a file cannot be read or written, naming it.
        """
        settings = BatchSettings.make(
            concurrency=concurrency,
            rate_limit=rate_limit,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            policy=policy,
        )
        results = ResultsFile(output)
        with file_errors():
            done = await AsyncRuntime.run_blocking(results.prepare, resume)
            # Opened before any traffic: an output that cannot be written fails at once.
            results.open()
            run = _AsyncRun(self._caller, self._target, settings)
            try:
                await run.start(requests, done)
            except BaseException:
                results.close()
                raise
            finished = run.results()
            bar: Progress | None = None
            try:
                bar = Progress(progress, total=run.total, skipped=run.skipped)
                async for result in finished:
                    results.write(result_line(result))
                    bar.update(run.report)
            finally:
                await AsyncRuntime.aclose_iterator(finished)
                run.close()
                results.close()
                if bar is not None:
                    bar.close(run.report())
        return run.report(str(results.path))

    def stream(
        self,
        requests: Requests,
        *,
        concurrency: int = 8,
        rate_limit: float | None = None,
        max_attempts: int = 3,
        max_cost_usd: float | None = None,
        policy: BatchPolicy | None = None,
    ) -> AsyncBatchStream:
        """Send every request and yield each :class:`chutes.BatchResult` as it finishes.

        Takes the options of :meth:`run` (no file, so no ``resume`` or ``progress``).
        The input is checked on the first iteration, before any request. Use it as a
        context manager; ``report`` says what the run did, also why it stopped early.

        Raises:
            ConfigurationError: for an invalid option, at once.
        """
        settings = BatchSettings.make(
            concurrency=concurrency,
            rate_limit=rate_limit,
            max_attempts=max_attempts,
            max_cost_usd=max_cost_usd,
            policy=policy,
        )
        return AsyncBatchStream(_AsyncRun(self._caller, self._target, settings), requests)


class AsyncBatchStream:
    """The results of ``batch.stream(...)`` in the order they finish.

    Iterate it (``async for``), best inside ``async with``: leaving early stops starting
    requests and abandons those in flight (their results are not returned).
    """

    __slots__ = ("_iterator", "_requests", "_run")

    def __init__(self, run: _AsyncRun, requests: Requests) -> None:
        self._run = run
        self._requests = requests
        self._iterator: AsyncIterator[BatchResult] | None = None

    @property
    def report(self) -> BatchReport:
        """What the run did so far (all of it, once the iteration ended)."""
        return self._run.report()

    def __aiter__(self) -> AsyncBatchStream:
        return self

    async def __anext__(self) -> BatchResult:
        with file_errors():
            if self._iterator is None:
                await self._run.start(self._requests, frozenset())
                self._iterator = self._run.results()
            return await anext(self._iterator)

    async def aclose(self) -> None:
        """Stop: no new request starts, and the workers are let go."""
        await AsyncRuntime.aclose_iterator(self._iterator)

    async def __aenter__(self) -> AsyncBatchStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _AsyncRun:
    """One run: its input, its control, and the workers that send its lines."""

    def __init__(self, caller: AsyncCaller, target: Target, settings: BatchSettings) -> None:
        self._caller = caller
        self._target = target
        self._settings = settings
        self._control = Control(settings, time.monotonic())
        self._source: Source | None = None
        self._lines: Generator[BatchLine, None, None] | None = None
        self._done: frozenset[str] | set[str] = frozenset()
        self._lock = threading.Lock()
        self._halted = False
        self.total = 0
        self.skipped = 0

    async def start(self, requests: Requests, done: frozenset[str] | set[str]) -> None:
        """The first pass over the input, and the prices when the run needs them."""
        if isinstance(requests, (str, os.PathLike)):
            source = await AsyncRuntime.run_blocking(scan, requests, self._target, done)
        else:
            source = scan(requests, self._target, done)
        try:
            found = await self._prices()
        except BaseException:
            source.close()
            raise
        self._source, self._done = source, done
        self.total, self.skipped = source.total, source.skipped
        self._control.begin(
            time.monotonic(), total=source.total, skipped=source.skipped, prices=found
        )

    async def _prices(self) -> dict[str, ModelPrice] | None:
        """The gateway's model prices: needed for ``max_cost_usd``, read anyway when the
        run is on the gateway itself (then best effort)."""
        config = self._caller.config
        gateway = resolve_target(url=config.llm_url, domain=config.domain, api_url=config.api_url)
        needed = self._settings.max_cost_usd is not None
        if not needed and gateway.base_url != self._target.base_url:
            return None
        try:
            # The client's own lookup (kept for a while, shared with usage.cost_usd), not
            # one of the run's calls.
            found = await self._caller.models(gateway)
        except ChutesError:
            if needed:
                raise
            return None
        return {model.id: model.price for model in found if model.price is not None}

    def report(self, output: str | None = None) -> BatchReport:
        """The run so far."""
        return self._control.report(time.monotonic(), output)

    async def results(self) -> AsyncIterator[BatchResult]:
        """Run the workers; yield each result as it finishes."""
        assert self._source is not None
        self._lines = self._source.lines()
        workers = AsyncRuntime.workers(self._settings.concurrency, self._work, self._halt)
        try:
            async for result in workers:
                yield result
        finally:
            await AsyncRuntime.aclose_iterator(workers)
            self.close()

    def close(self) -> None:
        """End the run: its input closed (a spool file removed), its clock stopped."""
        if self._source is not None:
            self._source.close()
        self._control.end(time.monotonic())

    def _halt(self) -> None:
        self._halted = True

    def _next_line(self) -> BatchLine | None:
        """The next line to send (workers share one reader), or None when there is none
        or the run stopped."""
        with self._lock:
            if self._halted or self._control.stopped is not None or self._lines is None:
                return None
            for line in self._lines:
                if line.custom_id not in self._done:
                    return line
            return None

    async def _work(self, worker: int, emit: Callable[[BatchResult], Awaitable[None]]) -> None:
        while True:
            line = self._next_line()
            if line is None:
                return
            result = await self._send(line)
            if result is None:
                return
            await emit(result)

    async def _send(self, line: BatchLine) -> BatchResult | None:
        """Send ``line`` until it succeeds, is given up, or the run stops (``None`` when it
        was never sent)."""
        caller, control = self._caller, self._control
        try:
            # The body is encoded once, here: every attempt sends these very bytes.
            spec = caller.spec(
                self._target,
                line.method,
                line.path,
                Call(json=NOT_GIVEN if line.body is None else line.body, max_retries=0),
            )
        except ConfigurationError as exc:  # a body that is not JSON: this line fails
            return self._finish(line, failure_result(line, exc, attempts=0, seconds=0.0), None)
        last: tuple[BatchResult, CallRecord] | None = None
        wait = 0.0
        attempt = 0
        while await self._admitted(wait):
            attempt += 1
            record = CallRecord()
            started = time.monotonic()
            response: Response | None = None
            error: ChutesError | None = None
            try:
                response = (await caller.send(spec, record))[1]
            except ChutesError as exc:
                error = exc
            finally:
                control.release()
            ended = time.monotonic()
            if response is not None:
                result = success_result(
                    line,
                    response.status_code,
                    response.headers,
                    response.content,
                    attempts=attempt,
                    seconds=ended - started,
                )
                return self._finish(line, result, record)
            assert error is not None
            result = failure_result(line, error, attempts=attempt, seconds=ended - started)
            next_wait = control.failed(
                error,
                attempt=attempt,
                started=started,
                now=ended,
                wall=time.time(),
                retry_policy=caller.config.retry_policy,
                rng=random.random,
            )
            if next_wait is None:
                return self._finish(line, result, record)
            last, wait = (result, record), next_wait
        return None if last is None else self._finish(line, *last)

    async def _admitted(self, wait: float) -> bool:
        """Wait ``wait`` seconds (a retry's backoff), then until the control lets this
        worker send; False when the run stops first."""
        control = self._control
        until = time.monotonic() + wait
        while not self._halted and control.stopped is None:
            now = time.monotonic()
            pause = until - now if now < until else control.admit(now)
            if pause is None:
                return False
            if pause <= 0:
                return True
            await AsyncRuntime.sleep(min(pause, WAKE_EVERY))
        return False

    def _finish(
        self, line: BatchLine, result: BatchResult, record: CallRecord | None
    ) -> BatchResult:
        """Count a line's result in the run's and the client's books."""
        self._control.finished(line, result)
        usage = self._caller.usage
        base_url = self._target.base_url
        usage.record_call(
            base_url,
            failed=not result.ok,
            retries=max(0, result.attempts - 1),
            headers=record.headers if record is not None else None,
        )
        if result.usage:
            prompt, completion, total = tokens(result.usage)
            usage.record_tokens(base_url, prompt, completion, total)
        return result


export(__all__, globals())
