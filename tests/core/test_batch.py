"""The batch core as data: input lines, results, output lines, resume, and the control.

No I/O and no sleeping: the control is driven with clock readings given by the test.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from typing import Any

import attrs
import pytest

import chutes
from chutes._core.batch import (
    MIN_SHARE,
    SLOT_POLL,
    BatchLine,
    BatchSettings,
    Control,
    Scan,
    failure_result,
    ok_id,
    parse_line,
    parse_text_line,
    parse_text_lines,
    response_body,
    result_line,
    success_result,
)
from chutes._core.errors import APIConnectionError, ConnectionFailure, status_error
from chutes._core.platform import ModelPrice
from chutes._core.targets import resolve_target

TARGET = resolve_target(url="https://llm.chutes.ai", domain="chutes.ai", api_url="https://x")
LINE = BatchLine("a", "POST", "/v1/chat/completions", {"model": "m", "messages": []}, "m", 1)
RULES = chutes.RetryPolicy(initial_delay=0.5, jitter=False)


@attrs.frozen
class Reply:
    """A response as the core reads one."""

    status_code: int
    content: bytes = b""
    headers: dict[str, str] = attrs.Factory(lambda: {"content-type": "application/json"})


def error(status: int, body: Any = None, **headers: str) -> Any:
    """The exception the client raises for ``status`` with a ``{"detail": body}``."""
    if isinstance(body, bytes):
        return status_error(Reply(status, body, {"content-type": "text/html", **headers}))
    content = json.dumps({"detail": body if body is not None else "x"}).encode()
    return status_error(Reply(status, content, {"content-type": "application/json", **headers}))


CAPACITY = error(429, "Infrastructure is at maximum capacity, try again later")
EDGE = error(429, b"<html><title>429 Too Many Requests</title></html>")
DAILY = error(429, "Free models limit reached for today")
QUOTA = error(402, {"message": "Quota exceeded", "quota_reset_timestamp": "2030-01-02T00:00:00Z"})


def control(**options: Any) -> Control:
    """A control started at t=0 with the given run options (``policy`` a dict)."""
    policy = chutes.BatchPolicy(**options.pop("policy", {}))
    settings = BatchSettings.make(
        concurrency=options.pop("concurrency", 4),
        rate_limit=options.pop("rate_limit", None),
        max_attempts=options.pop("max_attempts", 3),
        max_cost_usd=options.pop("max_cost_usd", None),
        policy=policy,
    )
    made = Control(settings, 0.0)
    made.begin(0.0, total=options.pop("total", 10), skipped=0, prices=options.pop("prices", None))
    assert not options
    return made


def fail(made: Control, exc: Any, *, at: float, started: float | None = None, attempt: int = 1):
    """Tell ``made`` an attempt started at ``started`` failed with ``exc`` at ``at``."""
    return made.failed(
        exc,
        attempt=attempt,
        started=at if started is None else started,
        now=at,
        wall=1e9,
        retry_policy=RULES,
        rng=random.random,
    )


def ok(custom_id: str = "a", usage: dict[str, int] | None = None) -> chutes.BatchResult:
    """A successful result reporting ``usage``."""
    body = {"usage": usage} if usage else {}
    return success_result(
        attrs.evolve(LINE, custom_id=custom_id),
        200,
        {"content-type": "application/json"},
        json.dumps(body).encode(),
        attempts=1,
        seconds=0.1,
    )


# --- input lines ---------------------------------------------------------------------------


def test_the_chat_form_posts_to_chat_completions() -> None:
    """The short chat form is a POST to /v1/chat/completions of the line minus its id."""
    line = parse_line({"custom_id": "x", "model": "m", "messages": [], "max_tokens": 5}, 1)
    assert line == BatchLine(
        "x", "POST", "/v1/chat/completions", {"model": "m", "messages": [], "max_tokens": 5}, "m", 1
    )


def test_the_batch_form_sends_its_url_and_body() -> None:
    """The OpenAI batch form sends its body to its url, a path on the chute."""
    data = {"custom_id": "x", "method": "post", "url": "/v1/embeddings", "body": {"input": "hi"}}
    line = parse_line(data, 4)
    assert (line.method, line.path, line.body, line.model) == (
        "POST",
        "/v1/embeddings",
        {"input": "hi"},
        None,
    )


def test_a_missing_custom_id_is_the_line_number() -> None:
    """Without a custom_id a line is named by its number."""
    assert parse_line({"messages": []}, 7).custom_id == "7"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param([1], "must be a JSON object", id="not-an-object"),
        pytest.param({"url": "/x", "body": {}, "model": "m"}, "not 'model'", id="unknown-key"),
        pytest.param({"url": "/x", "method": "DELETE"}, "'POST' or 'GET'", id="method"),
        pytest.param({"url": "", "body": {}}, "url must be a path", id="empty-url"),
        pytest.param({"messages": "hi"}, "messages must be a list", id="messages-text"),
        pytest.param({"custom_id": "", "messages": []}, "non-empty string", id="empty-id"),
        pytest.param({"prompt": "hi"}, "neither the batch form", id="neither"),
    ],
)
def test_an_invalid_line_names_its_number(data: Any, message: str) -> None:
    """Each refusal says which line and what is wrong."""
    with pytest.raises(chutes.ConfigurationError, match=rf"^line 3: .*{message}"):
        parse_line(data, 3)


def test_a_line_that_is_not_json_is_refused() -> None:
    """A JSONL line that does not parse is refused, naming the line."""
    with pytest.raises(chutes.ConfigurationError, match="line 2: not valid JSON"):
        parse_text_line(b'{"messages": [', 2)


def test_jsonl_lines_are_numbered_as_an_editor_numbers_them() -> None:
    """Blank lines are skipped but still counted for the line numbers."""
    lines = list(parse_text_lines([b'{"messages": []}\n', b"\n", b'{"messages": []}\n']))
    assert [line.custom_id for line in lines] == ["1", "3"]


def test_the_scan_refuses_a_duplicate_id_naming_its_line() -> None:
    """The first pass refuses an id it has seen, naming the line of the repeat."""
    scan = Scan(TARGET)
    scan.add(parse_line({"custom_id": "a", "messages": []}, 1))
    with pytest.raises(chutes.ConfigurationError, match="line 9: custom_id 'a' appears twice"):
        scan.add(parse_line({"custom_id": "a", "messages": []}, 9))


def test_the_scan_refuses_a_path_off_the_chute() -> None:
    """A url that would leave the chute is refused in the first pass."""
    with pytest.raises(chutes.ConfigurationError, match="line 1: "):
        Scan(TARGET).add(parse_line({"url": "//evil.example/x", "body": {}}, 1))


def test_the_scan_counts_lines_and_those_already_done() -> None:
    """The first pass counts every line, and those whose id is already ok."""
    scan = Scan(TARGET, done={"b"})
    for custom_id in "abc":
        scan.add(parse_line({"custom_id": custom_id, "messages": []}, 1))
    assert (scan.total, scan.skipped) == (3, 1)


# --- results and output lines --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "body"),
    [
        pytest.param(b'{"a": 1}', "application/json", {"a": 1}, id="json"),
        pytest.param(b"hello", "text/plain; charset=utf-8", "hello", id="text"),
        pytest.param(b"\x89PNG", "image/png", "data:image/png;base64,iVBORw==", id="bytes"),
        pytest.param(b"", "application/json", None, id="empty"),
        pytest.param(b"<html>", "application/json", "<html>", id="json-that-is-not"),
    ],
)
def test_a_body_is_kept_as_json_text_or_a_data_url(
    content: bytes, content_type: str, body: Any
) -> None:
    """Bodies are parsed JSON, else text, else a data: URL of their bytes."""
    assert response_body(content, content_type) == body


def test_a_success_keeps_status_invocation_id_body_and_usage() -> None:
    """A success result carries the answer and the usage it reported."""
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    result = success_result(
        LINE,
        200,
        {"content-type": "application/json", "x-chutes-invocationid": "inv-1"},
        json.dumps({"usage": usage}).encode(),
        attempts=2,
        seconds=0.25,
    )
    assert result.to_dict() == {
        "custom_id": "a",
        "ok": True,
        "response": {"status_code": 200, "invocation_id": "inv-1", "body": {"usage": usage}},
        "error": None,
        "usage": usage,
        "attempts": 2,
        "latency_ms": 250.0,
    }


def test_a_connection_failure_has_no_response() -> None:
    """A line given up without any answer has no response and no status."""
    exc = APIConnectionError("refused", failure=ConnectionFailure.CONNECT, url="http://x")
    result = failure_result(LINE, exc, attempts=3, seconds=0.0)
    assert (result.response, result.error) == (
        None,
        {"type": "APIConnectionError", "status_code": None, "message": "refused"},
    )


def test_an_output_line_is_one_line_of_json() -> None:
    """An output line is compact JSON ending in one newline, whatever the body holds."""
    result = success_result(
        LINE, 200, {"content-type": "text/plain"}, b"a\nb", attempts=1, seconds=0
    )
    data = result_line(result)
    assert data.count(b"\n") == 1
    assert data.endswith(b"\n")
    assert json.loads(data)["response"]["body"] == "a\nb"


def test_a_result_repr_is_short() -> None:
    """A result's repr names its id, outcome, status and attempts, not its body."""
    assert repr(ok()) == "<BatchResult 'a' ok status=200 attempts=1 100 ms>"


# --- resume --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        pytest.param(b'{"custom_id": "a", "ok": true}\n', "a", id="ok"),
        pytest.param(b'{"custom_id": "a", "ok": false}\n', None, id="failed"),
        pytest.param(b'{"custom_id": "a", "ok": true}', None, id="torn-no-newline"),
        pytest.param(b'{"custom_id": "a", "o\n', None, id="torn-json"),
        pytest.param(b'{"custom_id": 1, "ok": true}\n', None, id="not-an-id"),
        pytest.param(b"[1]\n", None, id="not-an-object"),
    ],
)
def test_only_whole_ok_lines_count_as_done(raw: bytes, found: str | None) -> None:
    """A resume skips ids of complete ok lines only; failed, torn or odd lines do not count."""
    assert ok_id(raw) == found


# --- the control: pace ---------------------------------------------------------------------


def test_without_a_rate_every_start_may_go_at_once() -> None:
    """With no rate limit starts are not spaced."""
    made = control()
    assert [made.admit(0.0) for _ in range(4)] == [0.0] * 4


def test_places_in_flight_are_capped_at_concurrency() -> None:
    """Past `concurrency` starts not yet released, a worker waits; a release frees a place."""
    made = control(concurrency=2)
    assert [made.admit(0.0), made.admit(0.0), made.admit(0.0)] == [0.0, 0.0, SLOT_POLL]
    made.release()
    assert made.admit(0.0) == 0.0


def test_the_rate_spaces_starts() -> None:
    """At 60 a minute the next start is one second after the last one."""
    made = control(rate_limit=60)
    assert made.admit(10.0) == 0.0
    made.release()
    assert made.admit(10.25) == pytest.approx(0.75)
    assert made.admit(11.0) == 0.0


def test_a_run_of_capacity_429s_halves_the_share() -> None:
    """capacity_run capacity 429s in a row halve the pace; fewer do not."""
    made = control(policy={"capacity_run": 3})
    fail(made, CAPACITY, at=1.0)
    fail(made, CAPACITY, at=1.0)
    assert made.share == 1.0
    fail(made, CAPACITY, at=1.0)
    assert made.share == 0.5


def test_a_success_breaks_the_run_of_capacity_429s() -> None:
    """A success between capacity 429s starts their count again."""
    made = control(policy={"capacity_run": 2})
    fail(made, CAPACITY, at=1.0)
    made.finished(LINE, ok())
    fail(made, CAPACITY, at=1.0)
    assert made.share == 1.0


def test_a_halved_share_halves_the_rate_and_the_places() -> None:
    """At half share the rate's gap doubles and half the places are open."""
    made = control(concurrency=4, rate_limit=60, policy={"capacity_run": 1})
    fail(made, CAPACITY, at=0.0)
    assert made.admit(0.0) == 0.0
    assert made.admit(1.0) == pytest.approx(1.0)  # two seconds apart now
    assert made.admit(2.0) == 0.0
    assert made.admit(4.0) == SLOT_POLL  # two in flight: the half of four


def test_429s_to_requests_sent_before_a_halving_do_not_halve_again() -> None:
    """A burst of capacity 429s to requests already in flight halves once."""
    made = control(policy={"capacity_run": 1})
    fail(made, CAPACITY, at=1.0, started=0.5)
    fail(made, CAPACITY, at=1.1, started=0.6)
    assert made.share == 0.5


def test_the_share_recovers_step_by_step() -> None:
    """Every slow_for seconds without a new halving the share doubles, up to the whole."""
    made = control(policy={"capacity_run": 1, "slow_for": 10})
    fail(made, CAPACITY, at=0.0)
    fail(made, CAPACITY, at=1.0)
    assert made.share == 0.25
    made.admit(10.5)
    assert made.share == 0.25
    made.admit(11.0)
    assert made.share == 0.5
    made.admit(100.0)
    assert made.share == 1.0


def test_the_share_stops_at_a_sixteenth() -> None:
    """However many halvings, a run keeps a sixteenth of its pace."""
    made = control(policy={"capacity_run": 1})
    for step in range(10):
        fail(made, CAPACITY, at=float(step))
    assert made.share == MIN_SHARE


# --- the control: edge pauses --------------------------------------------------------------


def test_an_edge_429_pauses_every_start() -> None:
    """After the edge's 429 no worker may start for `pause` seconds."""
    made = control(policy={"pause": 30})
    fail(made, EDGE, at=5.0)
    assert made.admit(6.0) == pytest.approx(29.0)
    assert made.admit(35.0) == 0.0


def test_an_edge_429_retry_after_sets_the_pause() -> None:
    """The edge's Retry-After, when it sends one, is the pause."""
    made = control(policy={"pause": 30})
    fail(made, error(429, b"<html>slow down</html>", **{"retry-after": "4"}), at=0.0)
    assert made.admit(1.0) == pytest.approx(3.0)


def test_repeated_edge_429s_lengthen_the_pause() -> None:
    """Each edge 429 after a pause doubles the next pause, up to max_pause."""
    made = control(policy={"pause": 10, "max_pause": 25})
    pauses = []
    for start in (0.0, 100.0, 200.0, 300.0):
        fail(made, EDGE, at=start)
        pauses.append(made.admit(start))
    assert pauses == [10.0, 20.0, 25.0, 25.0]


def test_a_success_resets_the_pause_length() -> None:
    """After a success the next edge 429 pauses for `pause` again."""
    made = control(policy={"pause": 10})
    fail(made, EDGE, at=0.0)
    made.finished(LINE, ok())
    fail(made, EDGE, at=50.0)
    assert made.admit(50.0) == 10.0


def test_an_edge_429_during_its_pause_does_not_lengthen_it() -> None:
    """429s to requests sent before the pause began do not pause again."""
    made = control(policy={"pause": 10})
    fail(made, EDGE, at=1.0)
    fail(made, EDGE, at=1.2, started=0.9)
    assert made.admit(2.0) == pytest.approx(9.0)


def test_a_line_refused_by_the_edge_tries_again_after_the_pause() -> None:
    """The edge's 429 is retried (the pause holds it), while attempts remain."""
    made = control(max_attempts=2)
    assert fail(made, EDGE, at=0.0, attempt=1) == 0.0
    assert fail(made, EDGE, at=100.0, attempt=2) is None


# --- the control: retries and stops --------------------------------------------------------


def test_retries_follow_the_client_policy() -> None:
    """A 500 is retried after the policy's backoff until max_attempts is reached."""
    made = control(max_attempts=3)
    assert fail(made, error(500), at=0.0, attempt=1) == 0.5
    assert fail(made, error(500), at=0.0, attempt=2) == 1.0
    assert fail(made, error(500), at=0.0, attempt=3) is None


def test_a_client_error_is_not_retried() -> None:
    """A 400 is given up at once."""
    assert fail(control(), error(400), at=0.0) is None


def test_a_402_stops_the_run_and_says_when_the_quota_resets() -> None:
    """A 402 is not retried; no worker may start; the report says why and when."""
    made = control()
    assert fail(made, QUOTA, at=0.0) is None
    assert made.admit(1.0) is None
    report = made.report(1.0)
    assert report.stopped == "payment_required"
    assert report.quota_reset == dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    assert "Quota exceeded" in (report.stop_message or "")


def test_a_daily_limit_stops_the_run() -> None:
    """A daily-limit 429 is not retried and stops the run."""
    made = control()
    assert fail(made, DAILY, at=0.0) is None
    assert made.stopped == "daily_limit"


def test_a_retry_waiting_when_the_run_stops_is_given_up() -> None:
    """Once stopped, a line's failed attempt is not retried."""
    made = control()
    fail(made, QUOTA, at=0.0)
    assert fail(made, error(500), at=0.0) is None


# --- the control: cost ---------------------------------------------------------------------

PRICES = {"m": ModelPrice(input_usd=1000.0, output_usd=2000.0)}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}  # $0.02 each


def test_spend_is_estimated_from_reported_tokens() -> None:
    """The report's cost is the reported tokens at the gateway's prices."""
    made = control(prices=PRICES)
    made.finished(LINE, ok(usage=USAGE))
    made.finished(LINE, ok(usage=USAGE))
    assert made.report(1.0).cost_usd == pytest.approx(0.04)


def test_the_cost_cap_stops_the_run() -> None:
    """Once the estimate reaches max_cost_usd no worker may start."""
    made = control(prices=PRICES, max_cost_usd=0.05)
    for _ in range(3):
        assert made.admit(0.0) == 0.0
        made.finished(LINE, ok(usage=USAGE))
    assert made.admit(0.0) is None
    assert made.stopped == "cost_limit"


def test_a_cap_with_an_unpriced_model_stops_the_run() -> None:
    """With max_cost_usd set, tokens of a model without a price stop the run."""
    made = control(prices={}, max_cost_usd=1.0)
    made.finished(LINE, ok(usage=USAGE))
    assert made.stopped == "cost_unknown"


def test_no_prices_no_cost() -> None:
    """Without prices the report's cost is unknown (None)."""
    made = control()
    made.finished(LINE, ok(usage=USAGE))
    assert made.report(0.0).cost_usd is None


# --- settings and the report ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("concurrency", 0, id="concurrency-0"),
        pytest.param("concurrency", 2.0, id="concurrency-float"),
        pytest.param("max_attempts", 0, id="attempts-0"),
        pytest.param("rate_limit", -1, id="rate-negative"),
        pytest.param("rate_limit", math.inf, id="rate-inf"),
        pytest.param("max_cost_usd", 0, id="cost-0"),
        pytest.param("policy", {"pause": 1}, id="policy-dict"),
    ],
)
def test_invalid_options_are_refused(option: str, value: Any) -> None:
    """Run options out of range are refused, naming the option."""
    options: dict[str, Any] = {
        "concurrency": 2,
        "rate_limit": None,
        "max_attempts": 1,
        "max_cost_usd": None,
        "policy": None,
    }
    options[option] = value
    with pytest.raises(chutes.ConfigurationError, match=option):
        BatchSettings.make(**options)


def test_an_invalid_policy_is_refused() -> None:
    """BatchPolicy fields must be positive."""
    with pytest.raises(chutes.ConfigurationError, match=r"BatchPolicy\.pause"):
        chutes.BatchPolicy(pause=0)


def test_the_report_counts_lines_never_started() -> None:
    """Once the run ended, lines neither skipped nor finished are not_started."""
    made = control(total=10)
    made.finished(LINE, ok())
    made.end(2.0)
    assert (made.report(5.0).not_started, made.report(5.0).elapsed) == (9, 2.0)


def test_a_report_reads_well() -> None:
    """A report's repr says the counts, the stop, the tokens, the cost and the time."""
    made = control(total=3, prices=PRICES)
    made.finished(LINE, ok(usage=USAGE))
    fail(made, QUOTA, at=0.0)
    made.end(1.5)
    assert repr(made.report(1.5)) == (
        "BatchReport(total=3, succeeded=1, failed=0, skipped=0, not_started=2, "
        "stopped='payment_required', quota_reset=2030-01-02T00:00:00+00:00, tokens=15, "
        "cost=$0.0200, elapsed=1.5s)"
    )


def test_a_report_draws_a_table_in_notebooks() -> None:
    """_repr_html_ is a table with the counts and the stop, HTML-escaped."""
    made = control(total=2)
    fail(made, error(402, "<b>balance</b> is 0"), at=0.0)
    made.end(1.0)
    table = made.report(1.0, output="out.jsonl")._repr_html_()
    assert table.startswith("<table>")
    assert "<th style='text-align:left'>not started</th>" in table
    assert "&lt;b&gt;balance&lt;/b&gt; is 0" in table
    assert "<b>" not in table
