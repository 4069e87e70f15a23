"""The command line at a terminal (a pseudo-terminal) and interrupted by Ctrl-C: streamed
text shows before the answer ends, JSON is indented for people, media is not sprayed onto
the screen, and SIGINT ends a stream cleanly."""

from __future__ import annotations

import json
import signal
import sys
import threading

import pytest
from clirun import (
    RUN_TIMEOUT,
    FaultServer,
    Terminal,
    cli_command,
    held_stream,
    piped,
    read_until,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals and signals")

MODEL = "deepseek-ai/DeepSeek-V3"


def test_streamed_text_appears_before_the_answer_ends(fault: FaultServer) -> None:
    """The first piece is on the terminal while the server still holds the rest of the
    answer; once released, the rest follows and the command exits 0."""
    release = threading.Event()
    first = [fault.chat_frame("The first words")]
    rest = [fault.chat_frame(", then the rest."), fault.chat_frame(finish="stop"), fault.done_frame]
    fault.queue(held_stream(first, rest, release))
    terminal = Terminal("--llm-url", fault.url, "chat", MODEL, "hi")
    try:
        appeared = terminal.read_until(b"The first words")
        still_running = terminal.process.poll() is None
    finally:
        release.set()
    code, shown, err = terminal.finish()
    assert appeared, shown
    assert still_running
    assert (code, shown, err) == (0, "The first words, then the rest.\n", "")


def test_json_is_indented_on_a_terminal(fault: FaultServer) -> None:
    """``call`` indents a JSON answer when stdout is a terminal (compact when piped: see
    test_cli_call)."""
    answer = {"a": 1, "b": [1, 2]}
    fault.queue(fault.ok(answer))
    code, shown, err = Terminal("call", fault.url, "/run").finish()
    assert code == 0, err
    assert shown == json.dumps(answer, indent=2) + "\n"


def test_media_is_not_written_to_a_terminal(fault: FaultServer) -> None:
    """A media answer with no ``-o`` is refused at a terminal, with a line saying to use
    ``-o``; nothing is shown."""
    fault.queue(fault.respond(200, b"RIFF\x00\x00WAVE", content_type="audio/wav"))
    code, shown, err = Terminal("call", fault.url, "/speak").finish()
    assert code == 1
    assert shown == ""
    assert "audio/wav (10 bytes), not text: give -o FILE" in err


# Python ignores SIGINT in a process started with SIGINT ignored (as a non-interactive
# shell starts background jobs); the child sets the default handler so the test does not
# depend on how it was started, then runs the command line's own main().
INTERRUPTIBLE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from chutes._cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_ctrl_c_stops_a_stream_cleanly(fault: FaultServer) -> None:
    """SIGINT during a stream exits 130 with no traceback, after what had arrived, and the
    connection is closed (the server sees it close long before its stall would end)."""
    frames = [fault.chat_frame("partial answer")]
    fault.queue(fault.sse(frames, ending="stall"))
    command = [sys.executable, "-c", INTERRUPTIBLE, "--llm-url", fault.url, "chat", MODEL, "hi"]
    with piped(command) as process:
        assert process.stdout is not None
        seen = read_until(process.stdout.fileno(), b"", b"partial answer")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 130
    assert (seen + out).decode() == "partial answer"
    assert err == b""
    # The stall would hold the connection for 5 s; a closed connection ends it at once.
    assert fault.wait_until(lambda: fault.open_connections == 0, limit=3.0)


def test_a_reader_that_goes_away_ends_the_command_quietly(fault: FaultServer) -> None:
    """When the program reading stdout exits mid-stream (``| head -1``), the command stops
    with exit 1 and no traceback."""
    release = threading.Event()
    first = [fault.chat_frame("first line\n")]
    rest = [fault.chat_frame("more\n" * 100), fault.chat_frame(finish="stop"), fault.done_frame]
    fault.queue(held_stream(first, rest, release))
    try:
        with piped(cli_command("--llm-url", fault.url, "chat", MODEL, "hi")) as process:
            assert process.stdout is not None
            seen = read_until(process.stdout.fileno(), b"", b"first line\n")
            process.stdout.close()
            release.set()
            _, err = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        release.set()
    assert seen == b"first line\n"
    assert process.returncode == 1
    assert err == b""
