"""``chutes-client batch run`` in a subprocess: every line through the gateway, results in
the output file, a progress bar and a report, resume, a default model, stops and their exit
codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import FaultServer, Platform, cli_env, lines, run_cli
from platform_server import MODEL


def write_input(path: Path, rows: list[Any]) -> Path:
    """``rows`` as a JSONL file (a str row is written as it is)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def chat_row(n: int, model: str | None = MODEL) -> dict[str, Any]:
    """A short chat-form line ``q{n}``."""
    row: dict[str, Any] = {"custom_id": f"q{n}", "messages": [{"role": "user", "content": f"{n}"}]}
    if model is not None:
        row["model"] = model
    return row


def results(path: Path) -> dict[str, dict[str, Any]]:
    """The output file's lines by custom_id."""
    return {r["custom_id"]: r for r in map(json.loads, path.read_text().splitlines())}


def chats_seen(platform: Platform) -> list[dict[str, Any]]:
    """The chat bodies the platform server received."""
    return [json.loads(body) for _, _, target, body in platform.server.seen if "chat" in target]


def test_batch_run_writes_every_result_and_reports(platform: Platform, tmp_path: Path) -> None:
    """Each line is sent; the output holds one ok line per request with the answer; stdout
    reports the counts, tokens and the results file; stderr draws the progress bar."""
    source = write_input(tmp_path / "in.jsonl", [chat_row(n) for n in range(3)])
    out = tmp_path / "out.jsonl"
    result = platform.run("batch", "run", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    found = results(out)
    assert sorted(found) == ["q0", "q1", "q2"]
    assert all(r["ok"] for r in found.values())
    answer = found["q0"]["response"]["body"]["choices"][0]["message"]["content"]
    assert answer == "Hello from the socket server."
    assert lines(result.stdout) == [
        "3 requests: 3 succeeded, 0 failed, 0 already done, 0 not started",
        "tokens: 9 prompt, 15 completion, 24 total; estimated cost $0.000021",
        f"results: {out}",
    ]
    assert "chutes batch" in result.stderr
    assert "3/3" in result.stderr


def test_model_fills_lines_that_name_none(platform: Platform, tmp_path: Path) -> None:
    """``--model`` is the model of chat lines and batch-form bodies without one; a line
    naming its own keeps it; a line without an id gets its line number, blank lines
    counted."""
    rows = [
        chat_row(0, model=None),
        "",
        {"url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "b"}]}},
        chat_row(2, model="unknown/model"),
    ]
    source = write_input(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    result = platform.run("batch", "run", str(source), "-o", str(out), "--model", MODEL)
    assert result.returncode == 1  # the line naming an unknown model failed
    assert sorted(body["model"] for body in chats_seen(platform)) == [MODEL, MODEL, "unknown/model"]
    found = results(out)
    assert (found["q0"]["ok"], found["3"]["ok"], found["q2"]["ok"]) == (True, True, False)
    assert found["q2"]["error"]["message"] == "model not found: unknown/model"
    assert "1 failed" in result.stdout


def test_resume_skips_what_is_done(platform: Platform, tmp_path: Path) -> None:
    """A second run with ``--resume`` sends nothing already ok; without it, an output
    holding results is refused (exit 2)."""
    source = write_input(tmp_path / "in.jsonl", [chat_row(n) for n in range(2)])
    out = tmp_path / "out.jsonl"
    assert platform.run("batch", "run", str(source), "-o", str(out)).returncode == 0
    sent = len(chats_seen(platform))
    again = platform.run("batch", "run", str(source), "-o", str(out))
    assert again.returncode == 2
    assert "resume" in again.stderr
    resumed = platform.run("batch", "run", str(source), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "2 requests: 0 succeeded, 0 failed, 2 already done" in resumed.stdout
    assert len(chats_seen(platform)) == sent


def test_a_cost_limit_stops_the_run(platform: Platform, tmp_path: Path) -> None:
    """``--max-cost`` stops starting requests once the spend reaches it: the report says
    so, the rest are not started, exit 1."""
    source = write_input(tmp_path / "in.jsonl", [chat_row(n) for n in range(5)])
    out = tmp_path / "out.jsonl"
    result = platform.run(
        "batch", "run", str(source), "-o", str(out), "--concurrency", "1", "--max-cost", "1e-9"
    )
    assert result.returncode == 1
    assert "stopped early (cost_limit)" in result.stdout
    assert "not started" in result.stdout
    assert len(results(out)) < 5


def test_a_402_stops_the_run_with_exit_4(fault: FaultServer, tmp_path: Path) -> None:
    """A 402 stops the run; the report gives the platform's words; exit 4."""
    fault.fallback = fault.status(402, "Quota exceeded for today")
    source = write_input(tmp_path / "in.jsonl", [chat_row(n) for n in range(3)])
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "--llm-url", fault.url, "batch", "run", str(source), "-o", str(out), "--concurrency", "1"
    )
    assert result.returncode == 4
    assert "stopped early (payment_required): " in result.stdout
    assert "Quota exceeded for today" in result.stdout


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        pytest.param(["{not json"], "line 1: not valid JSON", id="not-json"),
        pytest.param([chat_row(1), chat_row(1)], "q1", id="duplicate-id"),
        pytest.param([{"prompt": "x"}], "line 1", id="neither-form"),
    ],
)
def test_a_bad_input_exits_2_before_any_request(
    platform: Platform, tmp_path: Path, rows: list[Any], says: str
) -> None:
    """An input line that is not a request, or a duplicate id, exits 2 naming it; nothing
    is sent."""
    source = write_input(tmp_path / "in.jsonl", rows)
    result = platform.run("batch", "run", str(source), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    assert says in result.stderr
    assert chats_seen(platform) == []


@pytest.mark.parametrize(
    "options", [["--concurrency", "0"], ["--rpm", "-5"], ["--max-cost", "free"], []]
)
def test_bad_batch_options_exit_2(tmp_path: Path, options: list[str]) -> None:
    """A concurrency below 1, a rate or cost that is not a positive number, or no ``-o``,
    exit 2."""
    source = write_input(tmp_path / "in.jsonl", [chat_row(1)])
    output = ["-o", str(tmp_path / "out.jsonl")] if options else []
    result = run_cli("batch", "run", str(source), *output, *options)
    assert result.returncode == 2
    assert "error" in result.stderr


def test_without_tqdm_progress_is_logged_to_stderr(platform: Platform, tmp_path: Path) -> None:
    """Without tqdm (the ``[progress]`` extra) the run's progress lines show on stderr."""
    shadow = tmp_path / "shadow" / "tqdm"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('tqdm is not installed here')\n")
    source = write_input(tmp_path / "in.jsonl", [chat_row(n) for n in range(2)])
    env = cli_env(PYTHONPATH=str(shadow.parent))
    result = platform.run("batch", "run", str(source), "-o", str(tmp_path / "o.jsonl"), env=env)
    assert result.returncode == 0, result.stderr
    assert "INFO batch: 0/2 done" in result.stderr
    assert "INFO batch: 2/2 done, 0 failed, 16 tokens" in result.stderr
    assert "chutes batch" not in result.stderr


def test_a_missing_input_file_is_one_line(tmp_path: Path) -> None:
    """An input file that does not exist: one line naming it, exit 2 (a bad argument), no
    traceback."""
    missing = tmp_path / "missing.jsonl"
    result = run_cli("batch", "run", str(missing), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    assert lines(result.stderr) == [
        f"chutes-client: ConfigurationError: cannot read or write '{missing}': "
        "No such file or directory"
    ]


def test_an_output_in_a_missing_folder_exits_2(platform: Platform, tmp_path: Path) -> None:
    """An output file whose folder does not exist exits 2 before any request."""
    source = write_input(tmp_path / "in.jsonl", [chat_row(1)])
    result = platform.run("batch", "run", str(source), "-o", str(tmp_path / "no" / "out.jsonl"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert chats_seen(platform) == []
