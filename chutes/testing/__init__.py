"""Testing kit for code that uses chutes: a fake platform and pytest fixtures.

``FakeChutes`` is an httpx transport (sync and async) that behaves like the chutes
platform, so tests need neither credits nor network::

    from chutes.testing import FakeChutes

    fake = FakeChutes(api_key="test-key")
    fake.add_chute("me/my-llm")                  # strict like the platform: add what you call
    with fake.client() as client:
        reply = client.chute("me/my-llm").chat.completions.create(messages=[...])
    assert fake.requests[-1].json["messages"]

``FakeClock`` is a clock that moves only when told, for the fake's warm-up timeline.

The pytest plugin (installed with the package) adds the fixtures ``fake_chutes``,
``chutes_client`` and ``async_chutes_client``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import FakeClock
    from ._fake import FakeChutes, FakeRequest, Handler, Reply
    from ._png import make_png

__all__ = ["FakeChutes", "FakeClock", "FakeRequest", "Handler", "Reply", "make_png"]

# Imported on first use, so the pytest plugin (loaded by every pytest run in an environment
# that has this package) costs nothing until a test asks for a fixture.
_LAZY = {
    "FakeChutes": "._fake",
    "FakeClock": "._clock",
    "FakeRequest": "._fake",
    "Handler": "._fake",
    "Reply": "._fake",
    "make_png": "._png",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chutes.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
