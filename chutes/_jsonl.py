"""The files of a batch: its input, read twice (checked, then sent), and its results file,
appended one whole line at a time.

What a line means is decided in ``chutes._core.batch``; this module only opens, reads,
writes and replaces files, the same way for the blocking and the asyncio runner.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ._core.batch import (
    BatchLine,
    Scan,
    ok_id,
    parse_lines,
    parse_text_lines,
    spool_text,
)
from ._core.errors import ConfigurationError
from ._core.targets import Target

__all__: list[str] = []

Requests = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


class Source:
    """A batch's requests after the first pass: how many, how many already done, and the
    second pass (lazy, one line at a time).

    Args:
        lines: makes the second pass's iterator.
        total: the lines in the input.
        skipped: the lines among them already ok in the output.
        spool: a temporary file holding a one-shot iterator's lines, removed by
            :meth:`close`.
    """

    def __init__(
        self,
        lines: Callable[[], Generator[BatchLine, None, None]],
        *,
        total: int,
        skipped: int,
        spool: Path | None = None,
    ) -> None:
        self._make = lines
        self._lines: Generator[BatchLine, None, None] | None = None
        self.total = total
        self.skipped = skipped
        self._spool = spool

    def lines(self) -> Generator[BatchLine, None, None]:
        """The lines, read again from the start (closed by :meth:`close`)."""
        self._lines = self._make()
        return self._lines

    def close(self) -> None:
        """Close the second pass (its file) and remove the spool file, if there is one."""
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.unlink()
            self._spool = None


def scan(requests: Requests, target: Target, done: frozenset[str] | set[str]) -> Source:
    """Read a batch's input once, checking every line and every id, before any request.

    A path is a JSONL file, read line by line (twice). A re-iterable (a list, a tuple) is
    iterated twice. A one-shot iterator (a generator, an open file of dicts) cannot be
    read twice, so its lines are spooled to a temporary JSONL file during this pass and
    the second pass reads that: memory stays bounded by the ids either way.

    Raises:
        ConfigurationError: for an invalid line or a duplicate ``custom_id``; nothing has
            been sent then.
        OSError: when the input file cannot be read (see :func:`file_errors`).
    """
    check = Scan(target, done)
    if isinstance(requests, (str, os.PathLike)):
        path = Path(requests)
        with path.open("rb") as file:
            for line in parse_text_lines(file):
                check.add(line)
        return Source(lambda: _read(path), total=check.total, skipped=check.skipped)
    if isinstance(requests, Mapping) or not isinstance(requests, Iterable):
        raise ConfigurationError(
            "requests must be a JSONL path or an iterable of dicts (one per request)"
        )
    if iter(requests) is not requests:
        for line in parse_lines(requests):
            check.add(line)
        values = requests
        return Source(lambda: parse_lines(values), total=check.total, skipped=check.skipped)
    handle, name = tempfile.mkstemp(prefix="chutes-batch-", suffix=".jsonl")
    spool = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            for line in parse_lines(requests):
                check.add(line)
                file.write(spool_text(line))
    except BaseException:
        spool.unlink()
        raise
    return Source(lambda: _read(spool), total=check.total, skipped=check.skipped, spool=spool)


@contextlib.contextmanager
def file_errors() -> Iterator[None]:
    """A batch's file that cannot be read or written, as a ConfigurationError naming it
    (every error a caller sees is a ``chutes.ChutesError``)."""
    try:
        yield
    except OSError as exc:
        name = "a batch file" if exc.filename is None else repr(str(exc.filename))
        raise ConfigurationError(f"cannot read or write {name}: {exc.strerror or exc}") from None


def _read(path: Path) -> Generator[BatchLine, None, None]:
    with path.open("rb") as file:
        yield from parse_text_lines(file)


class ResultsFile:
    """A batch's output: JSONL, one line per request, each appended by one write.

    Args:
        path: the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError("output must be a path (str or os.PathLike)")
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def prepare(self, resume: bool) -> set[str]:
        """The ids already ok in the file, which a resumed run skips.

        The file is left holding only those lines: failed ones (tried again now), a torn
        last line (a crash during its write) and repeats are dropped, by writing the rest
        to a temporary file beside it that then takes its name, so every id keeps one line.

        Raises:
            ConfigurationError: when the file already holds lines and ``resume`` is false
                (results are never overwritten).
        """
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return set()
        if size == 0:
            return set()
        if not resume:
            raise ConfigurationError(
                f"{str(self.path)!r} already holds results: pass resume=True to skip the "
                "requests already ok in it (and try the others again), or choose another file"
            )
        done: set[str] = set()
        clean = True
        with self.path.open("rb") as file:
            for raw in file:
                custom_id = ok_id(raw)
                if custom_id is None or custom_id in done:
                    clean = False
                else:
                    done.add(custom_id)
        if not clean:
            self._keep_only_ok()
        return done

    def _keep_only_ok(self) -> None:
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        kept: set[str] = set()
        try:
            with os.fdopen(handle, "wb") as out, self.path.open("rb") as file:
                for raw in file:
                    custom_id = ok_id(raw)
                    if custom_id is not None and custom_id not in kept:
                        kept.add(custom_id)
                        out.write(raw)
            os.replace(name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise

    def open(self) -> None:
        """Open the file for appending, unbuffered: each :meth:`write` goes to the OS."""
        self._file = self.path.open("ab", buffering=0)

    def write(self, data: bytes) -> None:
        """Append one whole line (the OS may take a large one in parts)."""
        assert self._file is not None
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
