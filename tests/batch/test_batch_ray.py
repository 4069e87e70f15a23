"""``chutes.ray``: the mapper on its own, what ``map_batches`` asks of Ray Data, and the
example on a local Ray (two CPUs) against the chat server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow
import pytest
import ray
import ray.data
from batch_kit import KEY
from batch_server import BatchServer, payment

import chutes
import chutes.ray

REPO = Path(__file__).resolve().parents[2]


class RecordingDataset:
    """Stands in for a Ray dataset: records what map_batches is asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def map_batches(self, fn: Any, **options: Any) -> RecordingDataset:
        self.calls.append((fn, options))
        return self


def table(rows: list[dict[str, Any]]) -> pyarrow.Table:
    """A block of rows, as Ray Data hands one to the mapper."""
    return pyarrow.Table.from_pylist(rows)


def chat_row(number: int, **more: Any) -> dict[str, Any]:
    """A short chat row saying ``q{number}``."""
    return {
        "custom_id": f"c{number}",
        "messages": [{"role": "user", "content": f"q{number}"}],
    } | more


@pytest.fixture
def mapper(server: BatchServer) -> Iterator[chutes.ray.ChutesBatchMapper]:
    """A mapper (what each actor builds) on the server's gateway, closed afterwards."""
    made = chutes.ray.ChutesBatchMapper(
        chute=None,
        model="m",
        rate_limit=None,
        in_flight=4,
        max_attempts=2,
        client_options={"api_key": KEY, "llm_url": server.url},
    )
    yield made
    del made


def test_map_batches_splits_the_rate_across_the_actors() -> None:
    """rate_limit is the whole run's: each of the actors gets an even share."""
    dataset = RecordingDataset()
    chutes.ray.map_batches(dataset, concurrency=4, rate_limit=60, batch_size=5)  # type: ignore[arg-type]
    ((fn, options),) = dataset.calls
    assert fn is chutes.ray.ChutesBatchMapper
    assert options["fn_constructor_kwargs"]["rate_limit"] == 15
    assert options["compute"].min_size == options["compute"].max_size == 4
    assert (options["batch_size"], options["batch_format"]) == (5, "pyarrow")


def test_map_batches_refuses_a_rate_limit_in_client_options() -> None:
    """The run's rate goes to map_batches, where it is split, not to each client."""
    with pytest.raises(chutes.ConfigurationError, match="split across the actors"):
        chutes.ray.map_batches(
            RecordingDataset(),  # type: ignore[arg-type]
            rate_limit=60,
            client_options={"rate_limit": 60},
        )


def test_map_batches_refuses_a_bad_target_at_once() -> None:
    """An invalid chute target is refused before Ray starts anything."""
    with pytest.raises(chutes.ConfigurationError):
        chutes.ray.map_batches(RecordingDataset(), chute="not a target")  # type: ignore[arg-type]


def test_the_mapper_adds_the_result_columns(
    mapper: chutes.ray.ChutesBatchMapper, server: BatchServer
) -> None:
    """A block comes back with its rows unchanged plus the result fields as columns."""
    out = mapper(table([chat_row(0), chat_row(1)]))
    rows = out.to_pylist()
    assert out.column_names == ["custom_id", "messages", *chutes.ray.RESULT_COLUMNS]
    assert [row["custom_id"] for row in rows] == ["c0", "c1"]
    response = json.loads(rows[1]["response"])
    assert response["body"]["choices"][0]["message"]["content"] == "echo: q1"
    assert (rows[1]["ok"], rows[1]["error"], rows[1]["attempts"]) == (True, None, 1)
    assert json.loads(rows[1]["usage"])["total_tokens"] == 30


def test_the_mapper_fills_in_the_model_and_drops_nulls(
    mapper: chutes.ray.ChutesBatchMapper, server: BatchServer
) -> None:
    """Rows without a model get the run's; a null field (Arrow's absent) is not sent."""
    mapper(table([chat_row(0, max_tokens=5), chat_row(1)]))
    sent = {
        json.loads(r.body)["messages"][0]["content"]: json.loads(r.body) for r in server.chats()
    }
    assert sent["q1"] == {"messages": [{"role": "user", "content": "q1"}], "model": "m"}
    assert sent["q0"]["max_tokens"] == 5


def test_after_a_402_the_actor_sends_no_more_blocks(
    mapper: chutes.ray.ChutesBatchMapper, server: BatchServer
) -> None:
    """A 402 stops the actor: later blocks come back not sent, saying why."""
    server.answer_next(payment())
    mapper(table([chat_row(0)]))
    rows = mapper(table([chat_row(1)])).to_pylist()
    assert len(server.chats()) == 1
    assert rows[0]["ok"] is False
    assert json.loads(rows[0]["error"])["type"] == "NotSent"
    assert "Quota exceeded" in json.loads(rows[0]["error"])["message"]


def test_the_mapper_refuses_a_dataset_with_a_result_column(
    mapper: chutes.ray.ChutesBatchMapper,
) -> None:
    """A column named like a result field would be shadowed: it is refused."""
    with pytest.raises(chutes.ConfigurationError, match="already has column"):
        mapper(table([chat_row(0, ok=1)]))


def test_importing_chutes_does_not_import_ray() -> None:
    """`import chutes` (and its batch types) never loads Ray."""
    code = "import sys, chutes; chutes.Client; chutes.Batch; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # noqa: S603


@pytest.fixture
def local_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A local Ray with two CPUs (no dashboard, no auth token written), shut down after."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.syspath_prepend(str(REPO))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own, at start-up
def test_the_ray_example_answers_every_row(local_ray: None, server: BatchServer) -> None:
    """The Ray example runs 40 rows on two actors against the local server, all answered."""
    from examples import batch_ray

    started = time.monotonic()
    options = {"api_key": KEY, "llm_url": server.url}
    rows = batch_ray.main(rows=40, rate_limit=1200, client_options=options)
    assert time.monotonic() - started < 90
    assert [row["custom_id"] for row in rows] == [f"q{n}" for n in range(40)]
    for number, row in enumerate(rows):
        assert batch_ray.answer(row) == f"echo: Is {number} a prime number? yes or no."
    assert len(server.chats()) == 40
