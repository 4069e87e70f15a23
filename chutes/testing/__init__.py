"""Testing kit for code that uses chutes: a fake platform and pytest fixtures.

``FakeChutes`` is an httpx transport (sync and async) that behaves like the chutes
platform, so tests need neither credits nor network::

    from chutes.testing import FakeChutes

    fake = FakeChutes(api_key="test-key")
    with fake.client() as client:
        reply = client.chute("me/my-llm").chat.completions.create(messages=[...])
    assert fake.requests[-1].json["messages"]

The pytest plugin (installed with the package) adds the fixtures ``fake_chutes``,
``chutes_client`` and ``async_chutes_client``.
"""

from ._fake import FakeChutes, FakeRequest, Handler, Reply
from ._png import make_png

__all__ = ["FakeChutes", "FakeRequest", "Handler", "Reply", "make_png"]
