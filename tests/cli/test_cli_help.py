"""``--help`` of every subcommand, the two ways to start the command line, and shell
completion through argcomplete (the ``[cli]`` extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from clirun import SCRIPT, cli_env, run_cli

GLOBAL_OPTIONS = ["--api-key", "--api-url", "--llm-url", "--max-retries", "--verbose"]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        pytest.param(
            ["chat"],
            ["MODEL", "PROMPT", "--system", "--param", "--no-stream", "--json", "--usage", "--url"],
            id="chat",
        ),
        pytest.param(
            ["call"],
            ["TARGET", "PATH", "FIELD", "--body", "--get", "--stream", "--output"],
            id="call",
        ),
        pytest.param(["models"], ["--json"], id="models"),
        pytest.param(["chute"], ["show"], id="chute"),
        pytest.param(["chute", "show"], ["TARGET", "--json"], id="chute-show"),
        pytest.param(["warmup"], ["TARGET", "--quick", "--timeout"], id="warmup"),
        pytest.param(["whoami"], [], id="whoami"),
        pytest.param(["quota"], [], id="quota"),
        pytest.param(["usage"], [], id="usage"),
        pytest.param(["batch"], ["run"], id="batch"),
        pytest.param(
            ["batch", "run"],
            ["IN.jsonl", "--output", "--model", "--concurrency", "--rpm", "--resume", "--max-cost"],
            id="batch-run",
        ),
        pytest.param(["doctor"], [], id="doctor"),
    ],
)
def test_help_of_each_subcommand(command: list[str], options: list[str]) -> None:
    """``COMMAND --help`` exits 0 and names the command's options (and, for a command that
    runs, the global ones) on stdout."""
    result = run_cli(*command, "--help", key=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: chutes-client {' '.join(command)}")
    for option in options:
        assert option in result.stdout
    if command not in (["chute"], ["batch"]):
        for option in GLOBAL_OPTIONS:
            assert option in result.stdout


def test_top_level_help_lists_commands_and_discourages_api_key() -> None:
    """``--help`` lists every command, the exit codes, and steers the key to
    CHUTES_API_KEY (a key on the command line shows in history and ps)."""
    result = run_cli("--help", key=None)
    assert result.returncode == 0
    for name in ("chat", "call", "models", "chute", "warmup", "whoami", "quota", "usage"):
        assert f"    {name} " in result.stdout
    assert "    batch " in result.stdout
    assert "    doctor " in result.stdout
    assert "exit codes" in result.stdout
    text = " ".join(result.stdout.split())
    assert "prefer the CHUTES_API_KEY environment variable" in text
    assert "shell history and in ps" in text


def test_no_command_prints_help_to_stderr_and_exits_2() -> None:
    """Run bare, the command line shows its help on stderr and exits 2."""
    result = run_cli(key=None)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "COMMAND" in result.stderr


@pytest.mark.parametrize("script", [False, True], ids=["python-m-chutes", "chutes-client"])
def test_both_entry_points_run(script: bool) -> None:
    """``python -m chutes`` and the installed ``chutes-client`` are the same program."""
    result = run_cli("--version", key=None, script=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("chutes-client ")


def test_the_script_is_installed() -> None:
    """``pip install`` made a ``chutes-client`` script beside the interpreter."""
    assert SCRIPT.exists()


def complete(line: str, tmp_path: Path) -> list[str]:
    """What argcomplete offers for ``line`` (the cursor at its end) through the installed
    script, as the bash hook would ask it."""
    out = tmp_path / "completions"
    env = cli_env(
        None,
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        COMP_TYPE="9",
    )
    result = run_cli(script=True, env=env)
    assert result.returncode == 0, result.stderr
    return [word.strip() for word in out.read_text().split("\n") if word.strip()]


def test_completion_of_commands(tmp_path: Path) -> None:
    """Tab after ``ch`` offers the two commands that start so."""
    assert sorted(complete("chutes-client ch", tmp_path)) == ["chat", "chute"]


def test_completion_of_options(tmp_path: Path) -> None:
    """Tab after ``chat --no`` offers ``--no-stream``; after ``chute`` offers ``show``."""
    assert complete("chutes-client chat --no", tmp_path) == ["--no-stream"]
    assert "show" in complete("chutes-client chute ", tmp_path)


def test_help_and_completion_do_not_load_the_client() -> None:
    """``--help`` (and so each Tab of shell completion, which runs the same parser) loads
    neither the commands nor httpx."""
    code = (
        "import sys; from chutes._cli import main; main(['chat', '--help']); "
        "print(sorted(m for m in ('httpx', 'chutes._cli.commands') if m in sys.modules))"
    )
    result = run_cli(command=[sys.executable, "-c", code], key=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
