"""``chute.batch.run`` and ``.stream`` against a real server on 127.0.0.1, on both clients.

Each test runs once with ``chutes.Client`` and once with ``chutes.AsyncClient`` (the
``runner`` fixture). What the client promises is checked where it shows: at the server
(how many requests overlap, when they start, the bytes they carry) and in the output file.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from batch_kit import FIELDS, Runner, chat_lines, ids_of, read_output
from batch_server import RESET, Answer, BatchServer, capacity, daily_limit, detail, edge, payment

import chutes

# --- the output ----------------------------------------------------------------------------


def test_one_output_line_per_id(runner: Runner, tmp_path: Path) -> None:
    """Every request gets exactly one output line, under its custom_id."""
    output = tmp_path / "out.jsonl"
    runner.run(chat_lines(25), output, concurrency=4)
    assert sorted(ids_of(read_output(output))) == sorted(f"id-{i}" for i in range(25))


def test_output_lines_hold_the_documented_fields(runner: Runner, tmp_path: Path) -> None:
    """A line holds custom_id, ok, response (status, invocation id, body), error, usage,
    attempts and latency_ms, in that order."""
    output = tmp_path / "out.jsonl"
    runner.run(chat_lines(3), output)
    for line in read_output(output):
        assert list(line) == FIELDS
        assert list(line["response"]) == ["status_code", "invocation_id", "body"]
        assert (line["ok"], line["error"], line["attempts"]) == (True, None, 1)
        assert line["response"]["status_code"] == 200
        assert line["response"]["invocation_id"].startswith("inv-")
        assert line["usage"] == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        assert line["latency_ms"] > 0


def test_each_answer_belongs_to_its_request(runner: Runner, tmp_path: Path) -> None:
    """The body on a line is the answer to that line's request."""
    output = tmp_path / "out.jsonl"
    runner.run(chat_lines(12), output, concurrency=4)
    for line in read_output(output):
        index = line["custom_id"].removeprefix("id-")
        content = line["response"]["body"]["choices"][0]["message"]["content"]
        assert content == f"echo: q{index}"


def test_a_missing_custom_id_is_the_line_number(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """Lines without a custom_id are named by their line number (1-based)."""
    output = tmp_path / "out.jsonl"
    runner.run(chat_lines(3, ids=False), output)
    lines = {line["custom_id"]: line for line in read_output(output)}
    assert sorted(lines) == ["1", "2", "3"]
    assert lines["1"]["response"]["body"]["choices"][0]["message"]["content"] == "echo: q0"


def test_a_jsonl_file_in_the_batch_form(runner: Runner, tmp_path: Path) -> None:
    """A JSONL path of OpenAI batch lines is read; url is a path on the chute."""
    source = tmp_path / "in.jsonl"
    with source.open("w", encoding="utf-8") as file:
        for line in chat_lines(4):
            custom_id = line.pop("custom_id")
            batch_line = {"custom_id": custom_id, "method": "POST"}
            batch_line |= {"url": "/v1/chat/completions", "body": line}
            file.write(json.dumps(batch_line) + "\n")
        file.write("\n")  # a blank line is no request
    output = tmp_path / "out.jsonl"
    report = runner.run(source, output)
    assert (report.total, report.succeeded) == (4, 4)
    assert sorted(ids_of(read_output(output))) == ["id-0", "id-1", "id-2", "id-3"]


def test_a_failed_request_is_written_with_its_error(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A request given up is a line with ok false, the error and the server's answer."""
    server.answer_for("q1", detail(400, "bad request: max_tokens"))
    output = tmp_path / "out.jsonl"
    report = runner.run(chat_lines(2), output)
    failed = {line["custom_id"]: line for line in read_output(output)}["id-1"]
    assert failed["ok"] is False
    assert failed["error"] == {
        "type": "BadRequestError",
        "status_code": 400,
        "message": "bad request: max_tokens",
    }
    assert failed["response"]["body"] == {"detail": "bad request: max_tokens"}
    assert (report.succeeded, report.failed) == (1, 1)


def test_an_output_holding_results_is_not_overwritten(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """Without resume=True an output that holds results is refused, before any request."""
    output = tmp_path / "out.jsonl"
    output.write_text('{"custom_id": "id-0", "ok": true}\n')
    with pytest.raises(chutes.ConfigurationError, match="resume=True"):
        runner.run(chat_lines(2), output)
    assert server.requests == []


def test_files_that_cannot_be_used_are_named(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A missing input file, or an output in a missing folder, raises ConfigurationError
    naming the file (a ChutesError, like every error), before any request."""
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(chutes.ConfigurationError, match=r"nowhere\.jsonl"):
        runner.run(missing, tmp_path / "out.jsonl")
    with pytest.raises(chutes.ConfigurationError, match="no-such-folder"):
        runner.run(chat_lines(2), tmp_path / "no-such-folder" / "out.jsonl")
    with pytest.raises(chutes.ConfigurationError, match=r"nowhere\.jsonl"):
        runner.stream(missing)
    assert server.requests == []


# --- the pace ------------------------------------------------------------------------------


def test_never_more_than_concurrency_in_flight(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """At most `concurrency` requests are at the server at once (and that many are)."""
    server.delay = 0.05
    runner.run(chat_lines(24), tmp_path / "out.jsonl", concurrency=4)
    assert server.max_in_flight == 4


def test_starts_are_spaced_by_the_rate_limit(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """With rate_limit=300 (a minute), requests arrive 0.2 s apart (give or take the
    network's jitter)."""
    runner.run(chat_lines(6), tmp_path / "out.jsonl", concurrency=4, rate_limit=300)
    arrivals = [r.arrived for r in server.chats()]
    assert len(arrivals) == 6
    assert min(b - a for a, b in pairwise(arrivals)) >= 0.17


def test_capacity_429s_halve_the_rate(runner: Runner, server: BatchServer, tmp_path: Path) -> None:
    """After three capacity 429s in a row, starts are spaced twice as far apart."""
    server.answer_next(capacity(), capacity(), capacity())
    policy = chutes.BatchPolicy(capacity_run=3, slow_for=30)
    report = runner.run(
        chat_lines(4),
        tmp_path / "out.jsonl",
        concurrency=1,
        rate_limit=300,
        max_attempts=4,
        policy=policy,
    )
    arrivals = [r.arrived for r in server.chats()]
    gaps = [b - a for a, b in pairwise(arrivals)]
    assert len(arrivals) == 7  # three refused, then four answered
    assert all(0.17 <= gap < 0.33 for gap in gaps[:2])  # before the third 429: 0.2 s
    assert min(gaps[2:]) >= 0.37  # after it: half the pace, 0.4 s
    assert report.succeeded == 4


def test_an_edge_429_pauses_the_whole_run(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """After the edge's 429 no request starts for the pause; then the run goes on."""
    server.answer_for("q3", edge())
    server.delay = 0.01
    policy = chutes.BatchPolicy(pause=0.8)
    report = runner.run(chat_lines(12), tmp_path / "out.jsonl", concurrency=2, policy=policy)
    chats = server.chats()
    refused = next(r for r in chats if r.key == "q3")
    # A request admitted just before the 429 reached the client may still arrive at once.
    later = [r.arrived - refused.answered for r in chats if r.arrived > refused.answered + 0.15]
    assert later
    assert min(later) >= 0.75
    assert (report.succeeded, report.failed, report.stopped) == (12, 0, None)


def test_an_edge_429_waits_its_retry_after(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A Retry-After on the edge's 429 sets the pause."""
    server.answer_for("q0", edge(retry_after=0.5))
    policy = chutes.BatchPolicy(pause=30)
    report = runner.run(chat_lines(2), tmp_path / "out.jsonl", concurrency=1, policy=policy)
    first, *rest = server.chats()
    assert min(r.arrived for r in rest) - first.answered >= 0.45
    assert report.succeeded == 2


# --- retries -------------------------------------------------------------------------------


def test_retries_resend_byte_identical_bodies(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A request retried after two 500s carries the very same bytes each time."""
    server.answer_for("q0", detail(500, "oops"), detail(500, "oops"))
    output = tmp_path / "out.jsonl"
    runner.run(chat_lines(1), output, max_attempts=3)
    bodies = [r.body for r in server.chats()]
    assert len(bodies) == 3
    assert len(set(bodies)) == 1
    assert read_output(output)[0]["attempts"] == 3


def test_max_attempts_counts_every_attempt(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """max_attempts=2 sends a failing request twice, then writes it failed."""
    server.answer_for("q0", *[detail(503, "No instances available")] * 3)
    output = tmp_path / "out.jsonl"
    report = runner.run(chat_lines(1), output, max_attempts=2)
    (line,) = read_output(output)
    assert (len(server.chats()), line["attempts"], line["ok"]) == (2, 2, False)
    assert report.usage.retries == 1


# --- stopping early ------------------------------------------------------------------------


def test_a_402_stops_new_starts(runner: Runner, server: BatchServer, tmp_path: Path) -> None:
    """After a 402 no request starts; the report says why and when the quota resets."""
    server.answer_for("q2", payment())
    output = tmp_path / "out.jsonl"
    report = runner.run(chat_lines(10), output, concurrency=1)
    assert server.keys() == ["q0", "q1", "q2"]
    assert (report.succeeded, report.failed, report.not_started) == (2, 1, 7)
    assert report.stopped == "payment_required"
    assert report.quota_reset == RESET
    assert "Quota exceeded" in (report.stop_message or "")
    assert len(read_output(output)) == 3


def test_requests_in_flight_finish_after_a_402(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """The requests already sent when a 402 comes back are finished and written."""
    server.delay = 0.6
    server.answer_for("q0", payment(delay=0.3))
    output = tmp_path / "out.jsonl"
    report = runner.run(chat_lines(10), output, concurrency=4)
    assert len(server.chats()) == 4
    assert (report.succeeded, report.failed, report.not_started) == (3, 1, 6)
    assert sorted(ids_of(read_output(output))) == ["id-0", "id-1", "id-2", "id-3"]


def test_a_daily_limit_stops_without_retrying(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A daily-limit 429 is not retried and stops the run."""
    server.answer_for("q0", daily_limit())
    report = runner.run(chat_lines(3), tmp_path / "out.jsonl", concurrency=1, max_attempts=3)
    assert server.keys() == ["q0"]
    assert report.stopped == "daily_limit"


def test_the_cost_cap_stops_new_starts(runner: Runner, server: BatchServer, tmp_path: Path) -> None:
    """Once the estimated spend reaches max_cost_usd no request starts."""
    server.prices = {"m": (1000.0, 1000.0)}  # per million tokens: 30 tokens cost $0.03
    report = runner.run(
        chat_lines(10), tmp_path / "out.jsonl", gateway=True, concurrency=1, max_cost_usd=0.1
    )
    assert len(server.chats()) == 4  # $0.03, $0.06, $0.09, then $0.12 >= $0.10
    assert report.stopped == "cost_limit"
    assert report.cost_usd == pytest.approx(0.12)
    assert report.not_started == 6


def test_a_gateway_run_reports_its_cost(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """On the gateway the report estimates the spend from the gateway's prices."""
    server.prices = {"m": (1.0, 2.0)}
    report = runner.run(chat_lines(5), tmp_path / "out.jsonl", gateway=True)
    assert report.cost_usd == pytest.approx(5 * (10 * 1.0 + 20 * 2.0) / 1e6)
    assert report.usage.total_tokens == 150


# --- resume --------------------------------------------------------------------------------


def _line(custom_id: str, *, ok: bool) -> str:
    return json.dumps({"custom_id": custom_id, "ok": ok, "response": None}) + "\n"


def test_resume_sends_only_what_was_not_ok(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A resumed run skips the ids already ok and tries the failed ones again."""
    output = tmp_path / "out.jsonl"
    output.write_text(_line("id-0", ok=True) + _line("id-1", ok=False) + _line("id-3", ok=True))
    report = runner.run(chat_lines(5), output, resume=True)
    assert sorted(server.keys()) == ["q1", "q2", "q4"]
    assert (report.total, report.skipped, report.succeeded) == (5, 2, 3)


def test_resume_keeps_one_line_per_id(runner: Runner, tmp_path: Path) -> None:
    """After a resume the output holds one line per id: a failed one's old line is gone."""
    output = tmp_path / "out.jsonl"
    output.write_text(_line("id-0", ok=True) + _line("id-1", ok=False))
    runner.run(chat_lines(3), output, resume=True)
    lines = read_output(output)
    assert sorted(ids_of(lines)) == ["id-0", "id-1", "id-2"]
    assert all(line["ok"] for line in lines)


def test_a_torn_last_line_is_ignored(runner: Runner, server: BatchServer, tmp_path: Path) -> None:
    """A last line cut by a crash counts as not done: its request is sent again."""
    output = tmp_path / "out.jsonl"
    torn = _line("id-1", ok=True)[:25]
    output.write_text(_line("id-0", ok=True) + torn)
    runner.run(chat_lines(3), output, resume=True)
    assert sorted(server.keys()) == ["q1", "q2"]
    assert sorted(ids_of(read_output(output))) == ["id-0", "id-1", "id-2"]


# --- refused before any request ------------------------------------------------------------


def test_duplicate_ids_are_refused_before_any_request(
    runner: Runner, server: BatchServer, tmp_path: Path
) -> None:
    """A custom_id seen twice (even far apart) is refused, and nothing is sent."""
    lines = chat_lines(50)
    lines[40]["custom_id"] = "id-3"
    output = tmp_path / "out.jsonl"
    with pytest.raises(chutes.ConfigurationError, match="'id-3' appears twice"):
        runner.run(iter(lines), output)
    assert server.requests == []
    assert not output.exists() or output.read_bytes() == b""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param({"model": "m"}, "neither the batch form", id="no-form"),
        pytest.param({"url": "/x", "body": [1]}, "body must be a JSON object", id="list-body"),
        pytest.param({"url": "https://evil.example/x", "body": {}}, "line 2", id="absolute-url"),
        pytest.param({"messages": [], "stream": True}, "leave out stream", id="stream"),
        pytest.param({"custom_id": 7, "messages": []}, "custom_id must be", id="int-id"),
    ],
)
def test_an_invalid_line_is_refused_before_any_request(
    runner: Runner, server: BatchServer, tmp_path: Path, line: dict[str, Any], message: str
) -> None:
    """A line of neither form, or with a bad field, is refused naming it; nothing is sent."""
    with pytest.raises(chutes.ConfigurationError, match=message):
        runner.run([*chat_lines(1), line], tmp_path / "out.jsonl")
    assert server.requests == []


# --- stream --------------------------------------------------------------------------------


def test_stream_yields_every_result(runner: Runner, server: BatchServer) -> None:
    """stream() yields one result per request, and a report of them."""
    results, report = runner.stream(chat_lines(8), concurrency=3)
    assert sorted(r.custom_id for r in results) == [f"id-{i}" for i in range(8)]
    assert all(r.ok and r.attempts == 1 for r in results)
    assert (report.total, report.succeeded) == (8, 8)


def test_stream_yields_results_as_they_finish(runner: Runner, server: BatchServer) -> None:
    """A slow request comes after quicker ones sent later."""
    server.answer_for("q0", Answer(200, b'{"slow": true}', delay=0.5))
    results, _ = runner.stream(chat_lines(4), concurrency=2)
    assert results[-1].custom_id == "id-0"


def test_stream_reports_a_stop(runner: Runner, server: BatchServer) -> None:
    """A stream stopped by a 402 says so in its report."""
    server.answer_for("q1", payment())
    results, report = runner.stream(chat_lines(5), concurrency=1)
    assert [r.ok for r in results] == [True, False]
    assert (report.stopped, report.not_started) == ("payment_required", 3)


def test_leaving_a_stream_early_stops_starting_requests(
    runner: Runner, server: BatchServer
) -> None:
    """Breaking out of a stream starts no more requests (one in flight may finish)."""
    server.delay = 0.05
    runner.stream_first(chat_lines(20), concurrency=1)
    assert len(server.chats()) <= 2


def test_a_generator_is_spooled_and_the_spool_removed(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A one-shot iterator is read once into a temporary file, removed after the run."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spool_dir))
    report = runner.run((line for line in chat_lines(5)), tmp_path / "out.jsonl")
    assert (report.total, report.succeeded) == (5, 5)
    assert list(spool_dir.iterdir()) == []
