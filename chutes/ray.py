"""Batches on a Ray cluster: ``chutes.ray.map_batches`` (the ``[ray]`` extra).

Ray Data runs a callable class in a pool of actors; each actor builds one blocking
``chutes.Client`` in its ``__init__`` (clients travel by their configuration, never by
their connections) and sends each block of rows as one ``chute.batch.stream``. The
platform's limits are per user (PLATFORM.md): more machines do not raise the rate the
edge allows, so the run's one rate budget is split evenly across the actors.

``import chutes`` never imports this module, nor Ray.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._core.batch import BatchResult
from ._core.errors import ConfigurationError
from ._core.platform import parse_target

if TYPE_CHECKING:
    import pyarrow
    import ray.data

__all__ = ["ChutesBatchMapper", "map_batches"]

RESULT_COLUMNS: Final = ("ok", "response", "error", "usage", "attempts", "latency_ms")
_STOPS: Final = frozenset({"payment_required", "daily_limit"})  # they hold for every block


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int of at least 1")
    return value


def map_batches(
    dataset: ray.data.Dataset,
    *,
    chute: str | None = None,
    model: str | None = None,
    concurrency: int = 2,
    rate_limit: float | None = None,
    batch_size: int = 8,
    max_attempts: int = 3,
    client_options: Mapping[str, Any] | None = None,
) -> ray.data.Dataset:
    """Call a chute for every row of a Ray dataset, on a pool of actors.

    Each row is a batch line (the short chat form ``{"model", "messages", ...}`` or the
    OpenAI batch form ``{"method", "url", "body"}``; a ``custom_id`` column, if any, is
    kept as it is). The result is the input rows plus the result fields as columns:
    ``ok``, ``attempts``, ``latency_ms``, and ``response``, ``error`` and ``usage`` as
    JSON text (or null), so that every block has one Arrow schema whatever the bodies
    hold. Arrow cannot tell a missing field from a null one, so null fields are left out
    of what is sent.

    Args:
        dataset: the rows.
        chute: the chute, as the command line takes it (``user/name``, ``slug:...``,
            ``id:...``, a URL); ``None`` means the gateway (``client.llm``).
        model: the model for rows that name none.
        concurrency: how many actors (each with its own client).
        rate_limit: requests per minute for the whole run, split evenly across the actors
            (the platform's limits are per user: more actors do not raise them).
        batch_size: rows per block an actor sends at once (its requests in flight).
        max_attempts: attempts per row, the first included.
        client_options: keyword arguments of ``chutes.Client`` for each actor's client
            (``api_key``, ``llm_url``, ``timeout``, ...); without ``api_key`` the actors
            read ``CHUTES_API_KEY`` from their environment.

    Returns:
        The mapped ``ray.data.Dataset`` (lazy, like every Ray Data transform).

    Raises:
        ConfigurationError: for an invalid option, or when Ray Data is not installed.
    """
    try:
        import ray.data
    except ImportError:
        raise ConfigurationError(
            "chutes.ray needs Ray Data: pip install 'chutes-client[ray]'"
        ) from None
    concurrency = _count("concurrency", concurrency)
    batch_size = _count("batch_size", batch_size)
    max_attempts = _count("max_attempts", max_attempts)
    if chute is not None:
        parse_target(chute)  # refuse a bad target here, not in every actor
    if rate_limit is not None and (
        isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)) or rate_limit <= 0
    ):
        raise ConfigurationError("rate_limit must be a positive number of requests a minute")
    options = dict(client_options or {})
    if "rate_limit" in options:
        raise ConfigurationError(
            "pass rate_limit= to map_batches (it is split across the actors), not in client_options"
        )
    return dataset.map_batches(
        ChutesBatchMapper,
        fn_constructor_kwargs={
            "chute": chute,
            "model": model,
            "rate_limit": None if rate_limit is None else rate_limit / concurrency,
            "in_flight": batch_size,
            "max_attempts": max_attempts,
            "client_options": options,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
    )


class ChutesBatchMapper:
    """The callable class :func:`map_batches` gives Ray Data: one client per actor.

    Args:
        chute: the chute, as the command line takes it; ``None`` for the gateway.
        model: the model for rows that name none.
        rate_limit: this actor's share of the run's requests per minute (the client's own
            limiter, so it holds across the blocks the actor is given).
        in_flight: the most requests in flight at once.
        max_attempts: attempts per row.
        client_options: keyword arguments of ``chutes.Client``.
    """

    def __init__(
        self,
        *,
        chute: str | None,
        model: str | None,
        rate_limit: float | None,
        in_flight: int,
        max_attempts: int,
        client_options: Mapping[str, Any],
    ) -> None:
        from ._sync.client import Client

        self._client = Client(**client_options, rate_limit=rate_limit)
        self._chute = (
            self._client.llm
            if chute is None
            else self._client.chute(**parse_target(chute).as_kwargs())
        )
        self._model = model
        self._in_flight = in_flight
        self._max_attempts = max_attempts
        self._stopped: str | None = None

    def __call__(self, batch: pyarrow.Table) -> pyarrow.Table:
        """Send one block of rows; return it with the result columns added."""
        import pyarrow

        taken = sorted(set(batch.column_names) & set(RESULT_COLUMNS))
        if taken:
            raise ConfigurationError(
                f"the dataset already has column(s) {', '.join(taken)}, which "
                "chutes.ray.map_batches adds: rename them first"
            )
        lines = [self._line(index, row) for index, row in enumerate(batch.to_pylist())]
        results: dict[str, BatchResult] = {}
        if self._stopped is None:
            with self._chute.batch.stream(
                lines, concurrency=self._in_flight, max_attempts=self._max_attempts
            ) as stream:
                for result in stream:
                    results[result.custom_id] = result
                report = stream.report
            if report.stopped in _STOPS:
                self._stopped = report.stop_message
        columns: dict[str, list[Any]] = {name: [] for name in RESULT_COLUMNS}
        for index in range(batch.num_rows):
            found = results.get(str(index))
            record = found.to_dict() if found is not None else self._not_sent()
            for name in RESULT_COLUMNS:
                value = record[name]
                if name in ("response", "error", "usage") and value is not None:
                    value = json.dumps(value, ensure_ascii=False)
                columns[name].append(value)
        types = {
            "ok": pyarrow.bool_(),
            "response": pyarrow.string(),
            "error": pyarrow.string(),
            "usage": pyarrow.string(),
            "attempts": pyarrow.int64(),
            "latency_ms": pyarrow.float64(),
        }
        for name in RESULT_COLUMNS:
            batch = batch.append_column(name, pyarrow.array(columns[name], type=types[name]))
        return batch

    def _line(self, index: int, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row as a batch line named by its place in the block (its own ``custom_id``
        stays in its column)."""
        line: dict[str, Any] = _without_nulls(row)
        line["custom_id"] = str(index)
        if self._model is not None:
            body = line.get("body") if "url" in line else line
            if isinstance(body, dict):
                body.setdefault("model", self._model)
        return line

    def _not_sent(self) -> dict[str, Any]:
        message = f"not sent: {self._stopped or 'the run stopped'}"
        return {
            "ok": False,
            "response": None,
            "error": {"type": "NotSent", "status_code": None, "message": message},
            "usage": None,
            "attempts": 0,
            "latency_ms": 0.0,
        }

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _without_nulls(value: Any) -> Any:
    """``value`` with null fields left out of every object (Arrow fills absent ones)."""
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
