"""Errors of the command line in a subprocess: the exit code of each kind, one line with no
traceback (``-v`` shows it), and the API key in no output at any verbosity."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import Exchange, FaultServer, Platform, cli_env, lines, run_cli

MODEL = "deepseek-ai/DeepSeek-V3"
# Shaped like a real key, with a distinctive secret part so a leak of it is easy to find.
LEAK_KEY = (
    "cpk_feedfacecafebeef0123456789abcdef.0123456789abcdeffeedfacecafebeef."
    "LEAKCHECKsecretPART0123456789abc"
)
SECRET_PART = "LEAKCHECKsecretPART"


def unused_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Answer = Callable[[FaultServer], object]


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        pytest.param(lambda f: f.status(400, "bad body"), 1, "BadRequestError (400): bad body"),
        pytest.param(
            lambda f: f.status(401, "Invalid token"), 3, "AuthenticationError (401)", id="401"
        ),
        pytest.param(
            lambda f: f.status(403, "Forbidden"), 3, "PermissionDeniedError (403)", id="403"
        ),
        pytest.param(
            lambda f: f.respond(402, {"detail": {"message": "Quota exceeded"}}),
            4,
            "PaymentRequiredError (402): Quota exceeded",
            id="402",
        ),
        pytest.param(
            lambda f: f.status(429, "Infrastructure is at maximum capacity, try again later"),
            5,
            "RateLimitError (429): Infrastructure is at maximum capacity",
            id="429",
        ),
        pytest.param(
            lambda f: f.status(503, "No instances available (yet)"),
            6,
            "ServiceUnavailableError (503): No instances available",
            id="503",
        ),
        pytest.param(
            lambda f: f.status(500, "boom"), 1, "InternalServerError (500): boom", id="500"
        ),
        pytest.param(
            lambda f: f.status(404, "No matching cord found!"), 1, "NotFoundError (404)", id="404"
        ),
        pytest.param(lambda f: f.stall(), 7, "APITimeoutError", id="timeout"),
        pytest.param(lambda f: f.ok({"choices": "not a list"}), 1, "DecodeError", id="undecodable"),
    ],
)
def test_exit_code_and_one_line_per_error(
    fault: FaultServer, answer: Answer, code: int, says: str
) -> None:
    """Each kind of error has its exit code and one line on stderr (class, status, the
    server's words), no traceback, nothing on stdout."""
    fault.queue(answer(fault))  # type: ignore[arg-type]
    result = run_cli(
        "--llm-url", fault.url, "--max-retries", "0", "--timeout", "1", "chat", MODEL, "hi",
        "--no-stream",
    )  # fmt: skip
    assert result.returncode == code
    assert len(lines(result.stderr)) == 1
    assert result.stderr.startswith("chutes-client: ")
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_connection_refused_is_exit_8() -> None:
    """Nothing listening: exit 8, an APIConnectionError line."""
    url = f"http://127.0.0.1:{unused_port()}"
    result = run_cli("--llm-url", url, "--max-retries", "0", "chat", MODEL, "hi")
    assert result.returncode == 8
    assert "APIConnectionError: could not connect" in result.stderr
    assert len(lines(result.stderr)) == 1


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["chat"], id="missing-model"),
        pytest.param(["nonsense"], id="unknown-command"),
        pytest.param(["chat", MODEL, "hi", "--bogus"], id="unknown-option"),
        pytest.param(["--timeout", "-1", "chat", MODEL, "hi"], id="negative-timeout"),
        pytest.param(["--max-retries", "many", "models"], id="retries-not-a-number"),
        pytest.param(["--api-url", "ftp://x", "models"], id="bad-url"),
        pytest.param(["chute"], id="chute-without-show"),
        pytest.param([], id="no-command"),
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    """Bad arguments exit 2 before any traffic, saying what is wrong on stderr."""
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip()
    assert result.stdout == ""


def test_no_key_exits_2_naming_the_variable() -> None:
    """No key anywhere: exit 2, naming CHUTES_API_KEY."""
    result = run_cli("models", key=None)
    assert result.returncode == 2
    assert "CHUTES_API_KEY" in result.stderr


def test_verbose_shows_the_traceback_and_the_line(fault: FaultServer) -> None:
    """``-v`` prints the traceback, then the same one-line error, and logs the request."""
    fault.queue(fault.status(500, "boom"))
    result = run_cli("-v", "--max-retries", "0", "call", fault.url, "/run")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"chutes-client: InternalServerError (500): boom (POST {fault.url}/run)"
    )
    assert "POST" in result.stderr.split("Traceback")[0]  # the request's log line


def test_global_options_also_follow_the_command(fault: FaultServer) -> None:
    """A global option after the subcommand works as before it."""
    fault.queue(fault.status(500, "boom"))
    result = run_cli("call", fault.url, "/run", "--max-retries", "0", "-v")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert fault.count() == 1


# --- the key never shows ---------------------------------------------------------------------


def echo_key(status: int) -> Callable[[Exchange], object]:
    """An answer that echoes the key the request carried, in its detail."""

    async def behaviour(ex: Exchange) -> bool:
        key = ex.request.headers.get("authorization", "").removeprefix("Bearer ")
        reply = FaultServer.respond(status, {"detail": f"key {key} refused", "echo": key})
        return await reply(ex)

    return behaviour


def assert_no_key(result: subprocess.CompletedProcess[str]) -> None:
    """Neither the key nor its secret part is in stdout or stderr."""
    shown = result.stdout + result.stderr
    assert LEAK_KEY not in shown
    assert SECRET_PART not in shown


@pytest.mark.parametrize("how", ["environment", "argument"])
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["chat", MODEL, "hi"], id="chat-stream"),
        pytest.param(["chat", MODEL, "hi", "--no-stream", "--usage"], id="chat"),
        pytest.param(["call", "{url}", "/run", "a=1"], id="call"),
        pytest.param(["call", "{url}", "/run", "--stream"], id="call-stream"),
        pytest.param(["call", "{url}", "/speak", "-o", "{tmp}/x.wav"], id="call-output"),
        pytest.param(["models"], id="models"),
    ],
)
def test_an_echoed_key_is_never_shown(
    fault: FaultServer, tmp_path: Path, how: str, command: list[str]
) -> None:
    """A server that echoes the key in a 401 cannot make the command line show it, at
    ``-v`` (traceback and request logs included), whether the key came from the
    environment or the command line."""
    fault.fallback = echo_key(401)  # type: ignore[assignment]
    args = [part.format(url=fault.url, tmp=tmp_path) for part in command]
    given = ["--api-key", LEAK_KEY] if how == "argument" else []
    env = cli_env(LEAK_KEY if how == "environment" else None)
    result = run_cli(*given, "-v", "--llm-url", fault.url, *args, env=env)
    assert result.returncode == 3
    assert "Traceback" in result.stderr
    assert "key *** refused" in result.stderr
    assert_no_key(result)


def test_an_echoed_key_in_a_success_is_not_printed(fault: FaultServer) -> None:
    """A 200 answer echoing the key prints with the key replaced by ``***``."""
    fault.fallback = echo_key(200)  # type: ignore[assignment]
    result = run_cli("-v", "call", fault.url, "/run", env=cli_env(LEAK_KEY))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["echo"] == "***"
    assert_no_key(result)


def test_an_argument_error_never_echoes_the_key() -> None:
    """Even a bad value that happens to be the key is shown as ``***``."""
    result = run_cli("--api-key", LEAK_KEY, "--max-retries", LEAK_KEY, "models", key=None)
    assert result.returncode == 2
    assert "***" in result.stderr
    assert_no_key(result)


@pytest.mark.parametrize(
    "command",
    [
        ["doctor"],
        ["whoami"],
        ["quota"],
        ["usage"],
        ["warmup", "myuser/cold-llm"],
        ["chute", "show", "myuser/tts"],
    ],
)
def test_platform_commands_never_show_the_key(platform: Platform, command: list[str]) -> None:
    """The platform commands, at ``-v``, with a key the platform refuses: no key shown."""
    result = platform.run("-v", *command, env=cli_env(LEAK_KEY))
    assert result.returncode in (1, 3)  # doctor reports; the others exit on the 401
    assert_no_key(result)
