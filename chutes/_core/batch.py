"""Many calls to one chute, as data: input lines, results, output lines, resume, and the
control that paces a run.

Rule: no I/O. Lines come in as parsed values or text lines from iterables the facades
open; results leave as the bytes of one output line for the facades to write; every
decision takes the clock as an argument and hands back a wait, which the facades' workers
sleep. The platform's facts behind the control (PLATFORM.md): a capacity 429 means every
instance is busy (send less for a while), the edge's 429 means this user sends too fast
(stop everyone, and the ban lengthens on repeat), a 402 or a daily limit will not pass
today, and a retry must resend the byte-identical body to be billed as a reroll.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from . import retry
from .config import RetryPolicy
from .errors import (
    INVOCATION_ID_HEADER,
    APIConnectionError,
    APIStatusError,
    ChutesError,
    ConfigurationError,
    PaymentRequiredError,
    RateLimitError,
)
from .openai import CHAT_PATH
from .platform import ModelPrice, estimate_cost_usd
from .public import export
from .targets import Target
from .usage import ChuteUsage

__all__ = ["BatchPolicy", "BatchReport", "BatchResult"]

StopReason = Literal["payment_required", "daily_limit", "cost_limit", "cost_unknown"]
Outcome = Literal["ok", "capacity", "rate_limited", "daily_limit", "payment_required", "failed"]

_BATCH_KEYS: Final = frozenset({"custom_id", "method", "url", "body"})
_METHODS: Final = frozenset({"GET", "POST"})
_STOP_TEXT: Final[Mapping[str, str]] = {
    "payment_required": "the platform answered 402 (quota or balance)",
    "daily_limit": "a daily limit was reached",
    "cost_limit": "the estimated spend reached max_cost_usd",
    "cost_unknown": "max_cost_usd is set but the spend cannot be estimated",
}


# --- input lines ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class BatchLine:
    """One request of a batch, checked: its id, what to send, and the model it names.

    Attributes:
        custom_id: the caller's id (the line number, as text, when the line gave none).
        method: ``"POST"`` or ``"GET"``.
        path: the cord's path on the chute.
        body: the JSON body (``None`` for none).
        model: the body's ``model``, for the cost estimate.
        number: its line number in the input (1-based), for messages.
    """

    custom_id: str
    method: str
    path: str
    body: Mapping[str, Any] | None
    model: str | None
    number: int = 0


def parse_line(data: Any, number: int) -> BatchLine:
    """Check one input line: the OpenAI batch form ``{"custom_id", "method", "url",
    "body"}`` or the short chat form ``{"custom_id", "model", "messages", ...}``.

    Args:
        data: the line's value (a dict).
        number: its 1-based line number, the ``custom_id`` when it has none.

    Raises:
        ConfigurationError: naming the line, for anything that is neither form.
    """
    where = f"line {number}"
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a batch line must be a JSON object")
    custom_id = data.get("custom_id")
    if custom_id is None:
        custom_id = str(number)
    elif not isinstance(custom_id, str) or not custom_id:
        raise ConfigurationError(f"{where}: custom_id must be a non-empty string")
    if "url" in data or "body" in data:
        unknown = sorted(set(data) - _BATCH_KEYS)
        if unknown:
            raise ConfigurationError(
                f"{where}: the batch form holds custom_id, method, url and body only "
                f"(not {', '.join(map(repr, unknown))})"
            )
        method = data.get("method", "POST")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise ConfigurationError(f"{where}: method must be 'POST' or 'GET'")
        path = data.get("url")
        if not isinstance(path, str) or not path:
            raise ConfigurationError(f"{where}: url must be a path on the chute")
        body = data.get("body")
        if body is not None and not isinstance(body, Mapping):
            raise ConfigurationError(f"{where}: body must be a JSON object")
        method = method.upper()
    elif "messages" in data:
        method, path = "POST", CHAT_PATH
        body = {key: value for key, value in data.items() if key != "custom_id"}
        if not isinstance(body["messages"], list):
            raise ConfigurationError(f"{where}: messages must be a list")
    else:
        raise ConfigurationError(
            f"{where}: neither the batch form (custom_id, method, url, body) nor the chat "
            "form (custom_id, model, messages, ...)"
        )
    if body is not None and body.get("stream") is True:
        raise ConfigurationError(
            f"{where}: a batch reads whole responses; leave out stream (or set it false)"
        )
    model = body.get("model") if body is not None else None
    model = model if isinstance(model, str) else None
    return BatchLine(custom_id, method, path, body, model, number)


def parse_text_line(text: str | bytes, number: int) -> BatchLine | None:
    """Parse one line of a JSONL input; ``None`` for a blank line.

    Raises:
        ConfigurationError: for a line that is not JSON or not a batch line.
    """
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"line {number}: not valid JSON") from None
    return parse_line(data, number)


def parse_lines(values: Iterable[Any]) -> Generator[BatchLine, None, None]:
    """The lines of an iterable of dicts, numbered from 1, checked one at a time."""
    for number, value in enumerate(values, 1):
        yield parse_line(value, number)


def parse_text_lines(texts: Iterable[str | bytes]) -> Generator[BatchLine, None, None]:
    """The lines of a JSONL text (an open file), numbered as an editor numbers them."""
    for number, text in enumerate(texts, 1):
        line = parse_text_line(text, number)
        if line is not None:
            yield line


def spool_text(line: BatchLine) -> bytes:
    """``line`` in the batch form, as one JSONL line (its ``custom_id`` written out).

    Raises:
        ConfigurationError: when its body cannot be sent as JSON.
    """
    data: dict[str, Any] = {"custom_id": line.custom_id, "method": line.method, "url": line.path}
    if line.body is not None:
        data["body"] = line.body
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"line {line.number}: the body is not JSON: {exc}") from None
    return text.encode() + b"\n"


class Scan:
    """The first pass over a batch's input: every line checked and every id seen once,
    before any request.

    Only the ids are kept (a ``set`` of the strings): a million lines of ids of about
    twenty characters hold some 100 MB at most while the bodies are never held.

    Args:
        target: the chute; each line's path must be valid on it.
        done: ids already ok in the output (``resume=True``), counted as skipped.
    """

    __slots__ = ("_done", "_seen", "_target", "skipped", "total")

    def __init__(self, target: Target, done: frozenset[str] | set[str] = frozenset()) -> None:
        self._target = target
        self._done = done
        self._seen: set[str] = set()
        self.total = 0
        self.skipped = 0

    def add(self, line: BatchLine) -> None:
        """Count ``line``.

        Raises:
            ConfigurationError: for an id seen before, or a path the chute cannot take.
        """
        if line.custom_id in self._seen:
            raise ConfigurationError(
                f"line {line.number}: custom_id {line.custom_id!r} appears twice; ids must "
                "be unique (nothing was sent)"
            )
        self._seen.add(line.custom_id)
        try:
            self._target.join(line.path)
        except ConfigurationError as exc:
            raise ConfigurationError(f"line {line.number}: {exc}") from None
        self.total += 1
        if line.custom_id in self._done:
            self.skipped += 1


# --- results -------------------------------------------------------------------------------


@attrs.frozen(slots=True, repr=False)
class BatchResult:
    """What one request of a batch came to, as written to the output line.

    Attributes:
        custom_id: the line's id.
        ok: whether the chute answered with a success.
        response: ``{"status_code", "invocation_id", "body"}`` of the last answer (the
            body parsed as JSON; text, or a ``data:`` URL for bytes, otherwise), or
            ``None`` when no answer arrived.
        error: ``{"type", "status_code", "message"}`` when not ok, else ``None``.
        usage: the ``usage`` object the body reported, if any.
        attempts: how many times the request was sent.
        latency_ms: the last attempt's time, from sending to the end of the answer.
    """

    custom_id: str
    ok: bool
    response: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    usage: Mapping[str, Any] | None
    attempts: int
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The output line's object, with the fields in their documented order."""
        return {
            "custom_id": self.custom_id,
            "ok": self.ok,
            "response": self.response,
            "error": self.error,
            "usage": self.usage,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
        }

    def __repr__(self) -> str:
        status = self.response.get("status_code") if self.response else None
        outcome = "ok" if self.ok else (self.error or {}).get("type", "failed")
        return (
            f"<BatchResult {self.custom_id!r} {outcome} status={status} "
            f"attempts={self.attempts} {self.latency_ms:.0f} ms>"
        )


def result_line(result: BatchResult) -> bytes:
    """``result`` as one complete JSONL line (compact JSON and a newline)."""
    return _dumps(result.to_dict())


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)
    return text.encode() + b"\n"


def _jsonable(value: Any) -> Any:
    """What a result may hold that JSON cannot (an error body's bytes): as text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON")


def response_body(content: bytes, content_type: str | None) -> Any:
    """A body as the output line keeps it: parsed JSON, else text, else a ``data:`` URL."""
    if not content:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if "json" in media or not media:
        try:
            return json.loads(content)
        except ValueError:
            pass
    if media.startswith("text/") or "json" in media or not media:
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            pass
    encoded = base64.b64encode(content).decode("ascii")
    return f"data:{media or 'application/octet-stream'};base64,{encoded}"


def success_result(
    line: BatchLine,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    attempts: int,
    seconds: float,
) -> BatchResult:
    """The result of a line whose last attempt was answered with a success."""
    body = response_body(content, headers.get("content-type"))
    usage = body.get("usage") if isinstance(body, Mapping) else None
    return BatchResult(
        custom_id=line.custom_id,
        ok=True,
        response={
            "status_code": status,
            "invocation_id": headers.get(INVOCATION_ID_HEADER),
            "body": body,
        },
        error=None,
        usage=usage if isinstance(usage, Mapping) else None,
        attempts=attempts,
        latency_ms=round(seconds * 1000, 3),
    )


def failure_result(
    line: BatchLine, error: ChutesError, *, attempts: int, seconds: float
) -> BatchResult:
    """The result of a line given up after ``error`` (its last attempt's)."""
    response = None
    status = None
    message = str(error)
    if isinstance(error, APIStatusError):
        message = error.message  # the server's words; the line already says which request
        status = error.status_code
        response = {
            "status_code": status,
            "invocation_id": error.invocation_id,
            "body": error.body if error.body != "" else None,
        }
    return BatchResult(
        custom_id=line.custom_id,
        ok=False,
        response=response,
        error={"type": type(error).__name__, "status_code": status, "message": message},
        usage=None,
        attempts=attempts,
        latency_ms=round(seconds * 1000, 3),
    )


def outcome(error: ChutesError | None) -> Outcome:
    """What an attempt's end means for the whole run (``None``: a success)."""
    if error is None:
        return "ok"
    if isinstance(error, PaymentRequiredError):
        return "payment_required"
    if isinstance(error, RateLimitError):
        return error.reason
    return "failed"


def tokens(usage: Mapping[str, Any] | None) -> tuple[int, int, int]:
    """``(prompt, completion, total)`` from a reported ``usage`` object (0 when absent)."""
    if not usage:
        return 0, 0, 0

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    prompt, completion = count("prompt_tokens"), count("completion_tokens")
    return prompt, completion, count("total_tokens") or prompt + completion


def result_model(line: BatchLine, result: BatchResult) -> str | None:
    """The model a result's tokens are priced as: the request's, else the answer's."""
    if line.model is not None:
        return line.model
    body = result.response.get("body") if result.response else None
    model = body.get("model") if isinstance(body, Mapping) else None
    return model if isinstance(model, str) else None


# --- resume --------------------------------------------------------------------------------


def ok_id(raw: bytes) -> str | None:
    """The ``custom_id`` of an output line that is complete (it ends with a newline) and
    ok; ``None`` for a failed line, a torn one (a crash during its write), or garbage."""
    if not raw.endswith(b"\n"):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("ok") is not True:
        return None
    custom_id = data.get("custom_id")
    return custom_id if isinstance(custom_id, str) else None


# --- settings and the control of a run -----------------------------------------------------


def _positive(name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, __: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigurationError(f"BatchPolicy.{name} must be a positive number")

    return check


@attrs.frozen
class BatchPolicy:
    """How a batch reacts to the platform's pushback.

    Attributes:
        capacity_run: capacity 429s in a row ("every instance is busy") that halve the
            pace: the rate limit, and the requests in flight.
        slow_for: seconds each halving holds; then the pace doubles back, step by step, to
            what the run asked for.
        pause: seconds the whole run pauses after the edge's rate limit answers 429 (its
            ``Retry-After`` wins when it sends one); the pace is halved too.
        max_pause: pauses double on repeat (the edge lengthens its bans) up to this.
    """

    capacity_run: int = attrs.field(default=3, validator=_positive("capacity_run"))
    slow_for: float = attrs.field(default=60.0, validator=_positive("slow_for"))
    pause: float = attrs.field(default=60.0, validator=_positive("pause"))
    max_pause: float = attrs.field(default=600.0, validator=_positive("max_pause"))


MIN_SHARE: Final = 1 / 16  # the most a run slows down: a sixteenth of its pace
SLOT_POLL: Final = 0.05  # seconds between looks for a free place in flight, when slowed


@attrs.frozen
class BatchSettings:
    """A run's options, checked once where they arrive."""

    concurrency: int
    rate_limit: float | None
    max_attempts: int
    max_cost_usd: float | None
    policy: BatchPolicy

    @classmethod
    def make(
        cls,
        *,
        concurrency: int,
        rate_limit: float | None,
        max_attempts: int,
        max_cost_usd: float | None,
        policy: BatchPolicy | None,
    ) -> BatchSettings:
        """Check a run's options.

        Raises:
            ConfigurationError: naming the option that is out of range.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError("concurrency must be an int of at least 1")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigurationError("max_attempts must be an int of at least 1")
        for name, value in (("rate_limit", rate_limit), ("max_cost_usd", max_cost_usd)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                raise ConfigurationError(f"{name} must be a positive number or None")
        if policy is not None and not isinstance(policy, BatchPolicy):
            raise ConfigurationError("policy must be a chutes.BatchPolicy")
        return cls(
            concurrency=concurrency,
            rate_limit=None if rate_limit is None else float(rate_limit),
            max_attempts=max_attempts,
            max_cost_usd=None if max_cost_usd is None else float(max_cost_usd),
            policy=policy or BatchPolicy(),
        )


@attrs.frozen(repr=False)
class BatchReport:
    """What a batch run did.

    Attributes:
        total: the lines in the input.
        succeeded: lines answered with a success in this run.
        failed: lines given up in this run (each written with its error).
        skipped: lines already ok in the output (``resume=True``), not sent again.
        not_started: lines never sent because the run stopped (left for a resume).
        stopped: why the run stopped starting new requests early, else ``None``:
            ``"payment_required"`` (a 402), ``"daily_limit"`` (a daily-limit 429),
            ``"cost_limit"`` (the estimated spend reached ``max_cost_usd``) or
            ``"cost_unknown"`` (``max_cost_usd`` is set and a model has no known price).
        stop_message: the stop in words (the server's own for a 402 or a 429).
        quota_reset: when the quota resets, as a 402 said (UTC), else ``None``.
        usage: requests sent (lines, not attempts), failures, retries and reported tokens.
        cost_usd: the estimated spend of the reported tokens at the gateway's prices, or
            ``None`` when no prices were read (or a model has none).
        elapsed: seconds from the start of the run to its end (or to now, while running).
        output: the results file, for :meth:`chutes.Batch.run`.
    """

    total: int
    succeeded: int
    failed: int
    skipped: int
    not_started: int
    stopped: StopReason | None
    stop_message: str | None
    quota_reset: _dt.datetime | None
    usage: ChuteUsage
    cost_usd: float | None
    elapsed: float
    output: str | None = None

    def __repr__(self) -> str:
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        parts = [
            f"total={self.total}",
            f"succeeded={self.succeeded}",
            f"failed={self.failed}",
            f"skipped={self.skipped}",
        ]
        if self.not_started:
            parts.append(f"not_started={self.not_started}")
        if self.stopped is not None:
            parts.append(f"stopped={self.stopped!r}")
        if self.quota_reset is not None:
            parts.append(f"quota_reset={self.quota_reset.isoformat()}")
        parts += [f"tokens={self.usage.total_tokens}", f"cost={cost}"]
        parts.append(f"elapsed={self.elapsed:.1f}s")
        return f"BatchReport({', '.join(parts)})"

    def _repr_html_(self) -> str:
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        rows = [
            ("total", f"{self.total:,}"),
            ("succeeded", f"{self.succeeded:,}"),
            ("failed", f"{self.failed:,}"),
            ("skipped (already ok)", f"{self.skipped:,}"),
            ("not started", f"{self.not_started:,}"),
            ("stopped", "no" if self.stopped is None else f"{self.stopped}: {self.stop_message}"),
            ("quota resets", "" if self.quota_reset is None else self.quota_reset.isoformat()),
            ("retries", f"{self.usage.retries:,}"),
            (
                "tokens",
                f"{self.usage.total_tokens:,} ({self.usage.prompt_tokens:,} prompt, "
                f"{self.usage.completion_tokens:,} completion)",
            ),
            ("estimated cost", cost),
            ("elapsed", f"{self.elapsed:.1f} s"),
            ("output", self.output or ""),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for name, value in rows
            if value
        )
        return f"<table><caption>chutes batch</caption>{cells}</table>"


class Control:
    """The shared state of one run: the pace, pauses, the stop, and the books.

    Every worker asks :meth:`admit` before each attempt, gives its place in flight back
    with :meth:`release` after it, and tells :meth:`failed` or :meth:`finished`; each call
    takes a lock for a few operations (threads and tasks share one control) and hands back
    a wait, never sleeping.

    How the pace moves: each halving (``capacity_run`` capacity 429s in a row, or one edge
    429) halves the share of the asked-for pace a run uses (its rate limit, and how many
    requests it may have in flight), down to a sixteenth; every ``slow_for`` seconds
    without a new halving the share doubles back, up to the whole. Answers to requests
    sent before a change do not count towards the next one, so one burst of 429s halves
    once. An edge 429 also pauses every worker for ``pause`` seconds (or its
    ``Retry-After``), doubling on repeat up to ``max_pause``; a success resets that length.

    Args:
        settings: the run's options.
        now: the run's start (a monotonic clock reading).
        prices: each model's price, for the cost estimate (``None``: not known).
        total: the lines in the input.
        skipped: the lines already done.
    """

    def __init__(
        self,
        settings: BatchSettings,
        now: float,
        *,
        prices: Mapping[str, ModelPrice] | None = None,
        total: int = 0,
        skipped: int = 0,
    ) -> None:
        self.settings = settings
        self.policy = settings.policy
        self.started = now
        self.prices = prices
        self.total = total
        self.skipped = skipped
        self._cost: float | None = 0.0 if prices is not None else None
        self._lock = threading.Lock()
        self._share = 1.0
        self._changed = -math.inf  # when the share last changed
        self._run = 0  # capacity 429s in a row
        self._paused_at = -math.inf
        self._pause_until = -math.inf
        self._pause = self.policy.pause
        self._next_start = -math.inf
        self._last_start = -math.inf
        self._in_flight = 0
        self._stopped: StopReason | None = None
        self._stop_message: str | None = None
        self._quota_reset: _dt.datetime | None = None
        self._succeeded = 0
        self._failed = 0
        self._retries = 0
        self._prompt = 0
        self._completion = 0
        self._total_tokens = 0
        self._ended: float | None = None

    def begin(
        self,
        now: float,
        *,
        total: int,
        skipped: int,
        prices: Mapping[str, ModelPrice] | None,
    ) -> None:
        """Start the run's clock, once its input is counted and the prices are known."""
        with self._lock:
            self.started = now
            self.total = total
            self.skipped = skipped
            self.prices = prices
            self._cost = 0.0 if prices is not None else None

    # -- the pace ---------------------------------------------------------------------------

    @property
    def stopped(self) -> StopReason | None:
        """Why the run stopped starting requests, or ``None``."""
        return self._stopped

    @property
    def share(self) -> float:
        """The share of the asked-for pace the run uses now (1, 1/2, ... 1/16)."""
        return self._share

    def admit(self, now: float) -> float | None:
        """May a worker send now? ``0.0``: yes (its start is booked, and it holds one of
        the run's places in flight until :meth:`release`); a positive number: ask again
        after that many seconds; ``None``: no, the run has stopped."""
        with self._lock:
            if self._stopped is not None:
                return None
            self._recover(now)
            if now < self._pause_until:
                return self._pause_until - now
            if self._in_flight >= max(1, int(self.settings.concurrency * self._share)):
                return SLOT_POLL  # slowed down: wait for a request in flight to end
            rate = self.settings.rate_limit
            if rate is not None:
                if now < self._next_start:
                    return self._next_start - now
                self._last_start = now
                self._next_start = now + 60.0 / (rate * self._share)
            self._in_flight += 1
            return 0.0

    def release(self) -> None:
        """An attempt :meth:`admit` let through has ended: its place in flight is free."""
        with self._lock:
            self._in_flight -= 1

    def _recover(self, now: float) -> None:
        while self._share < 1.0 and now >= self._changed + self.policy.slow_for:
            self._share = min(1.0, self._share * 2)
            self._changed += self.policy.slow_for

    def _halve(self, since: float) -> None:
        self._share = max(MIN_SHARE, self._share / 2)
        self._changed = since
        self._run = 0
        rate = self.settings.rate_limit
        if rate is not None:  # the start already booked moves to the slower pace too
            self._next_start = max(self._next_start, self._last_start + 60.0 / (rate * self._share))

    # -- what attempts came to ----------------------------------------------------------------

    def failed(
        self,
        error: ChutesError,
        *,
        attempt: int,
        started: float,
        now: float,
        wall: float,
        retry_policy: RetryPolicy,
        rng: Callable[[], float],
    ) -> float | None:
        """Take a failed attempt into account; return the wait before the line's next
        attempt, or ``None`` to give the line up.

        A 402 and a daily-limit 429 stop the run and are never retried; the edge's 429
        pauses it and the line tries again after the pause; anything else is retried as
        the client's retry policy says, up to ``max_attempts`` attempts in all.

        Args:
            error: what the attempt raised.
            attempt: the attempts made for the line, this one included.
            started: when the attempt was sent (monotonic).
            now: now (monotonic).
            wall: now (epoch seconds), for ``Retry-After`` dates.
            retry_policy: the client's retry policy (what is retried, the backoff).
            rng: a source of floats in [0, 1), for jitter.
        """
        kind = outcome(error)
        with self._lock:
            if kind == "payment_required":
                assert isinstance(error, PaymentRequiredError)
                self._stop("payment_required", str(error), error.quota_reset)
            elif kind == "daily_limit":
                self._stop("daily_limit", str(error))
            elif kind == "capacity" and started >= self._changed:
                self._run += 1
                if self._run >= self.policy.capacity_run:
                    self._halve(now)
            elif kind == "rate_limited" and started >= self._paused_at:
                assert isinstance(error, RateLimitError)
                asked = error.retry_after
                if asked is None:
                    asked = retry.parse_retry_after(error.response.headers, wall)
                wait = asked if asked is not None else self._pause
                self._paused_at = now
                self._pause_until = now + wait
                self._pause = min(self._pause * 2, self.policy.max_pause)
                self._halve(self._pause_until)
            if self._stopped is not None or attempt >= self.settings.max_attempts:
                return None
            if kind == "rate_limited":
                return 0.0  # admit() holds it until the pause is over
        decision = retry.decide(
            retry_policy,
            attempt=attempt,
            max_retries=self.settings.max_attempts - 1,
            now=wall,
            rng=rng,
            status=error.status_code if isinstance(error, APIStatusError) else None,
            headers=error.response.headers if isinstance(error, APIStatusError) else None,
            failure=error.failure if isinstance(error, APIConnectionError) else None,
            reason=error.reason if isinstance(error, RateLimitError) else None,
        )
        return decision.delay if isinstance(decision, retry.Retry) else None

    def finished(self, line: BatchLine, result: BatchResult) -> None:
        """Count a line's result: the books, the spend, and the cost cap."""
        prompt, completion, total = tokens(result.usage)
        model = result_model(line, result) if prompt or completion else None
        with self._lock:
            if result.ok:
                self._succeeded += 1
                self._run = 0
                self._pause = self.policy.pause
            else:
                self._failed += 1
            self._retries += result.attempts - 1
            self._prompt += prompt
            self._completion += completion
            self._total_tokens += total
            if self._cost is not None and (prompt or completion):
                assert self.prices is not None
                spent = estimate_cost_usd({model or "": (prompt, completion)}, self.prices)
                self._cost = None if spent is None else self._cost + spent
            cap = self.settings.max_cost_usd
            if cap is not None:
                if self._cost is None:
                    self._stop("cost_unknown", f"no gateway price is known for model {model!r}")
                elif self._cost >= cap:
                    self._stop("cost_limit", f"estimated ${self._cost:.4f} of ${cap:g}")

    def _stop(
        self, reason: StopReason, message: str, quota_reset: _dt.datetime | None = None
    ) -> None:
        if self._stopped is None:
            self._stopped = reason
            self._stop_message = f"{_STOP_TEXT[reason]}: {message}"
            self._quota_reset = quota_reset

    def end(self, now: float) -> None:
        """Mark the run over (the report's elapsed time stops here)."""
        with self._lock:
            if self._ended is None:
                self._ended = now

    def report(self, now: float, output: str | None = None) -> BatchReport:
        """The run so far (or, after :meth:`end`, the whole run)."""
        with self._lock:
            done = self._succeeded + self._failed
            return BatchReport(
                total=self.total,
                succeeded=self._succeeded,
                failed=self._failed,
                skipped=self.skipped,
                not_started=max(0, self.total - self.skipped - done)
                if self._ended is not None
                else 0,
                stopped=self._stopped,
                stop_message=self._stop_message,
                quota_reset=self._quota_reset,
                usage=ChuteUsage(
                    requests=done,
                    failures=self._failed,
                    retries=self._retries,
                    prompt_tokens=self._prompt,
                    completion_tokens=self._completion,
                    total_tokens=self._total_tokens,
                ),
                cost_usd=self._cost,
                elapsed=(self._ended if self._ended is not None else now) - self.started,
                output=output,
            )


export(__all__, globals())
