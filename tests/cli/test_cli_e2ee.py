"""``--e2ee`` on ``call`` and ``chat``: end-to-end encrypted from the command line, against
the E2EE platform on 127.0.0.1 (``tests/e2ee/e2ee_server.py``, its instance on pqcrypto)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import cli_env, lines, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2ee"))
from e2ee_server import API_KEY, CHUTE_ID, REPLY_TEXT, E2EEServer

PROMPT = "the safe's code is 4-8-15-16"


@pytest.fixture
def server() -> Iterator[E2EEServer]:
    """The E2EE platform, stopped after the test."""
    started = E2EEServer(instances=2).start()
    try:
        yield started
    finally:
        started.stop()


def test_call_with_e2ee_prints_the_decrypted_answer(server: E2EEServer) -> None:
    """``call id:... /v1/chat/completions --e2ee`` prints the plaintext answer; the prompt
    and the answer never crossed the wire in the clear."""
    messages = json.dumps([{"role": "user", "content": PROMPT}])
    result = run_cli(
        *("--api-url", server.url, "call", f"id:{CHUTE_ID}", "/v1/chat/completions"),
        *("model=e2e-model", f"messages:={messages}", "--e2ee"),
        env=cli_env(API_KEY),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["choices"][0]["message"]["content"] == REPLY_TEXT
    assert server.invocations[0].body["messages"][0]["content"] == PROMPT
    wire = server.wire()
    assert PROMPT.encode() not in wire
    assert b"Zebras" not in wire


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        pytest.param(("chat", "m", "hi", "--e2ee", "--url", "http://127.0.0.1:9"), "name or id="),
        pytest.param(("call", f"id:{CHUTE_ID}", "/v1/models", "--get", "--e2ee"), "--get"),
    ],
)
def test_what_cannot_be_encrypted_is_a_bad_argument(
    server: E2EEServer, args: tuple[str, ...], problem: str
) -> None:
    """A call that cannot be encrypted exits 2 with one line naming why, before any
    traffic."""
    result = run_cli("--api-url", server.url, *args, env=cli_env(API_KEY))
    assert result.returncode == 2
    (line,) = lines(result.stderr)
    assert "ConfigurationError" in line
    assert problem in line
    assert server.received == []
