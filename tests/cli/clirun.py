"""Running ``chutes-client`` in a subprocess against real servers on 127.0.0.1.

Two servers answer it: the platform socket server (``tests/platform/platform_server.py``,
reached by URL through its ``listen_as`` ports: the API, the gateway and the TTS chute) and
the scriptable fault server (``tests/reliability/fault_server.py``) for streams, stalls and
error answers. Every subprocess gets a clean environment (no ``CHUTES_*``, no proxies) and
a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

# pytest puts a test folder on sys.path when it collects it; these two serve the CLI tests
# too, whichever folders a run collects.
for _folder in ("platform", "reliability"):
    _path = str(Path(__file__).resolve().parents[1] / _folder)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fault_server import Behaviour, Exchange, FaultServer, chunk_of, head_of  # noqa: E402
from platform_server import KEY, PlatformServer  # noqa: E402

__all__ = [
    "KEY",
    "FaultServer",
    "Platform",
    "PlatformServer",
    "RUN_TIMEOUT",
    "SCRIPT",
    "Terminal",
    "cli_command",
    "cli_env",
    "held_stream",
    "lines",
    "piped",
    "read_until",
    "run_cli",
]

RUN_TIMEOUT = 60.0
SCRIPT = Path(sys.executable).with_name("chutes-client")


def cli_env(key: str | None = KEY, **extra: str) -> dict[str, str]:
    """The subprocess environment: ours without chutes settings or proxies, the key in
    ``CHUTES_API_KEY`` (unless ``key`` is None), plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("CHUTES_", "_ARGCOMPLETE", "COMP_"))
        and "PROXY" not in name.upper()
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONIOENCODING"] = "utf-8"
    if key is not None:
        env["CHUTES_API_KEY"] = key
    env.update(extra)
    return env


def cli_command(*args: str, script: bool = False) -> list[str]:
    """``python -m chutes ARGS`` (or the installed ``chutes-client`` script)."""
    return [str(SCRIPT), *args] if script else [sys.executable, "-m", "chutes", *args]


def run_cli(
    *args: str,
    key: str | None = KEY,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    script: bool = False,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end (stdin empty unless ``input``), bounded in time;
    ``command`` runs instead of ``python -m chutes ARGS`` when given."""
    return subprocess.run(  # noqa: S603 - our own interpreter and package
        cli_command(*args, script=script) if command is None else command,
        env=cli_env(key) if env is None else env,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@attrs.frozen
class Platform:
    """The platform socket server and the URLs the command line reaches it by."""

    server: PlatformServer
    api: str
    llm: str
    tts: str

    def urls(self) -> list[str]:
        """``--api-url`` and ``--llm-url`` pointing at the server."""
        return ["--api-url", self.api, "--llm-url", self.llm]

    def run(self, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        """``run_cli`` with the server's URLs before ``args``."""
        return run_cli(*self.urls(), *args, **options)  # type: ignore[arg-type]


def lines(text: str) -> Sequence[str]:
    """The non-empty lines of ``text``."""
    return [line for line in text.splitlines() if line.strip()]


def read_until(fd: int, seen: bytes, wanted: bytes, limit: float = RUN_TIMEOUT) -> bytes:
    """``seen`` and what more is read from ``fd`` until ``wanted`` is among it, the other
    side closes, or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while wanted not in seen and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.1))
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # a terminal whose other side closed answers EIO
            break
        if not data:
            break
        seen += data
    return seen


@contextlib.contextmanager
def piped(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running with stdin empty and stdout and stderr piped; killed (if still
    running) and waited for on leaving."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and package
        command,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=RUN_TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


class Terminal:
    """The command line with its stdout on a pseudo-terminal (stdin empty, stderr a pipe):
    what a person at a terminal sees, read as it arrives."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        master, slave = os.openpty()
        self.master = master
        self.seen = b""
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and package
            cli_command(*args),
            env=cli_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)

    def read_until(self, wanted: bytes, limit: float = RUN_TIMEOUT) -> bool:
        """Read the terminal until ``wanted`` has appeared (or it closes, or ``limit`` s)."""
        self.seen = read_until(self.master, self.seen, wanted, limit)
        return wanted in self.seen

    def finish(self, limit: float = RUN_TIMEOUT) -> tuple[int, str, str]:
        """Wait for the end: (exit code, what the terminal showed, stderr). The terminal
        shows each newline as CR LF; they are turned back into newlines."""
        self.read_until(b"\x00never\x00", limit)
        try:
            _, err = self.process.communicate(timeout=limit)
        finally:
            self.process.kill()
            os.close(self.master)
        shown = self.seen.decode("utf-8").replace("\r\n", "\n")
        return self.process.wait(timeout=limit), shown, err.decode("utf-8")


def held_stream(first: list[bytes], rest: list[bytes], release: threading.Event) -> Behaviour:
    """A streamed answer that sends ``first``, then holds the rest until the test sets
    ``release`` (at most ``RUN_TIMEOUT`` s), then sends ``rest`` and ends."""

    async def behaviour(ex: Exchange) -> bool:
        sse = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]
        await ex.send(head_of(200, "OK", sse))
        for frame in first:
            await ex.send(chunk_of(frame))
        await asyncio.to_thread(release.wait, RUN_TIMEOUT)
        for frame in rest:
            await ex.send(chunk_of(frame))
        await ex.send(b"0\r\n\r\n")
        return False

    return behaviour
