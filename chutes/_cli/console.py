"""Where a command writes, and how an error ends it.

Results go to stdout, everything else (progress, usage, notes, errors) to stderr, and the
API key goes nowhere: every piece of text written is searched for it first. An error ends
the command with one line and the exit code API.md gives its kind.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterable
from typing import Any, BinaryIO, Final, TextIO

from .._core.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ChutesError,
    ConfigurationError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)

__all__: list[str] = []

PROG: Final = "chutes-client"
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as shells report a Ctrl-C

# Most specific first: APITimeoutError is an APIConnectionError.
_EXIT_CODES: Final[tuple[tuple[type[ChutesError], int], ...]] = (
    (ConfigurationError, EXIT_USAGE),
    (AuthenticationError, 3),
    (PermissionDeniedError, 3),
    (PaymentRequiredError, 4),
    (RateLimitError, 5),
    (ServiceUnavailableError, 6),
    (APITimeoutError, 7),
    (APIConnectionError, 8),
)
# Shorter secrets are not searched for: replacing them would garble ordinary text.
_MIN_SECRET: Final = 4


def exit_code(error: Exception) -> int:
    """The exit code of an error: 2 bad arguments, 3 401/403, 4 402, 5 429, 6 503,
    7 timeout, 8 connection, 1 anything else (a file that cannot be read or written)."""
    return next((code for cls, code in _EXIT_CODES if isinstance(error, cls)), EXIT_ERROR)


def error_line(error: Exception) -> str:
    """The error on one line: its class, its status, and the server's detail."""
    if isinstance(error, APIStatusError):
        text = f"{type(error).__name__} ({error.status_code}): {error}"
        if isinstance(error, PaymentRequiredError) and error.quota_reset is not None:
            text += f" (the quota resets at {error.quota_reset.isoformat()})"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def json_text(value: Any, *, pretty: bool) -> str:
    """JSON for people (indented) or for pipes (compact, one line)."""
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Console:
    """The command's stdout and stderr, never showing a secret.

    Args:
        out: where results go.
        err: where progress, notes and errors go.
        secrets: what must never be written (the API key, from wherever it came).
    """

    def __init__(self, out: TextIO, err: TextIO, secrets: Iterable[str | None]) -> None:
        self._out = out
        self._err = err
        self._secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len)[::-1]

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def out_is_tty(self) -> bool:
        """Whether stdout is a terminal (JSON is then indented, media refused)."""
        return self._out.isatty()

    def emit(self, text: str, *, err: bool) -> None:
        """Write ``text`` as it is to stderr (``err``) or stdout, flushed at once."""
        stream = self._err if err else self._out
        stream.write(self.redact(text))
        stream.flush()

    def write(self, text: str) -> None:
        """Write a piece of a result as it arrives, flushed at once."""
        self.emit(text, err=False)

    def line(self, text: str = "") -> None:
        """Write one line of a result."""
        self.write(f"{text}\n")

    def json(self, value: Any) -> None:
        """Write a JSON result: indented on a terminal, compact when piped."""
        self.line(json_text(value, pretty=self.out_is_tty))

    def binary(self) -> BinaryIO:
        """stdout's bytes (media piped to another program)."""
        self._out.flush()
        found: BinaryIO = self._out.buffer
        return found

    def note(self, text: str) -> None:
        """Write a line to stderr: progress, usage, what was done."""
        self.emit(f"{text}\n", err=True)

    def error(self, error: Exception, *, verbose: bool) -> int:
        """Report ``error`` (with its traceback when ``verbose``) and return its exit code."""
        if verbose:
            shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self.emit(shown, err=True)
        self.note(f"{PROG}: {error_line(error)}")
        return exit_code(error)


class _LogStream:
    """A log handler's stream that writes to stderr through the console."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def write(self, text: str) -> None:
        self._console.emit(text, err=True)

    def flush(self) -> None:
        """Each write is flushed already."""


def log_handler(console: Console) -> logging.Handler:
    """A handler printing log records on stderr through ``console`` (so no record could
    show the key either)."""
    handler = logging.StreamHandler(_LogStream(console))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler
