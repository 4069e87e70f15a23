"""How every example picks what it talks to, from its command line and the environment.

- ``CHUTES_API_KEY`` set: the chutes.ai platform (or ``--url`` with that key);
- ``--url URL`` without a key: that server, never the fake, with a placeholder key (a
  keyless local server ignores it);
- neither: the offline fake platform (``chutes.testing``), set up by the example.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import chutes
from chutes.testing import FakeChutes

PLACEHOLDER_KEY = "no-key"
C = TypeVar("C", chutes.Client, chutes.AsyncClient)


def parse(description: str | None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every example takes (``--url``), for an example to add its own to."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", help="any OpenAI-compatible server instead of chutes.ai")
    args, _ = parser.parse_known_args(argv)
    return args


def client_for(url: str | None, fake: Callable[[], FakeChutes], kind: type[C], **options: Any) -> C:
    """The client (of ``kind``, made with ``options`` unless it is the fake's) an example
    runs with (see the module docstring), saying which it is."""
    if os.environ.get("CHUTES_API_KEY"):
        print(f"Using {url or 'the chutes.ai platform'} (CHUTES_API_KEY is set).")
        return kind(**options)
    if url:
        print(f"Using {url} with a placeholder key (CHUTES_API_KEY is not set).")
        return kind(api_key=PLACEHOLDER_KEY, **options)
    print("No CHUTES_API_KEY set: using the offline fake platform (chutes.testing).")
    made: Any = fake().async_client() if kind is chutes.AsyncClient else fake().client()
    return made  # type: ignore[no-any-return]
