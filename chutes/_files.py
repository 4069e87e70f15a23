"""Writing a response body to a file as it arrives (``save_to=``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ._core.errors import ConfigurationError

__all__: list[str] = []


@contextlib.contextmanager
def saving(path: str | os.PathLike[str] | None) -> Iterator[BinaryIO | None]:
    """A file to write a body into, or ``None`` when there is no ``path``.

    The body goes to a temporary file beside ``path``, which takes its name only once the
    whole body arrived: an error midway leaves no file (and never a partial one).

    Raises:
        ConfigurationError: when the directory cannot hold the file.
    """
    if path is None:
        yield None
        return
    target = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise ConfigurationError(f"cannot write save_to={str(path)!r}: {exc}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
