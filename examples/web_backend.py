"""A web backend: one ``AsyncClient`` for the app's lifetime, streaming a chat reply.

The client is created in the app's lifespan and closed when the app stops, and every request
shares its connection pool. Run it with ``uvicorn examples.web_backend:app`` (needs
``pip install starlette uvicorn``) and open ``/chat?prompt=hello``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

import chutes
from chutes.testing import FakeChutes

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

MODEL = "deepseek-ai/DeepSeek-V3-0324"


def create_app(
    make_client: Callable[[], chutes.AsyncClient] = chutes.AsyncClient, url: str | None = None
) -> Starlette:
    """The app; ``make_client`` is called once, at startup; ``url``: an OpenAI-compatible
    server to ask instead of the gateway."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with make_client() as client:
            app.state.chutes = client
            yield

    async def chat(request: Request) -> StreamingResponse:
        client: chutes.AsyncClient = request.app.state.chutes
        prompt = request.query_params.get("prompt", "Say hello.")
        llm = client.chute(url=url) if url else client.llm
        stream = await llm.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
        )

        async def body() -> AsyncIterator[str]:
            async with stream:
                async for piece in stream.iter_text():
                    yield piece

        return StreamingResponse(body(), media_type="text/plain; charset=utf-8")

    return Starlette(routes=[Route("/chat", chat)], lifespan=lifespan)


app = create_app()


async def serve_once(client: chutes.AsyncClient, url: str | None = None) -> str:
    """Start the app with ``client`` (lifespan included), make one request, stop the app."""
    web = create_app(lambda: client, url)
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as browser:
            reply = await browser.get("/chat", params={"prompt": "hello from the browser"})
            reply.raise_for_status()
            return reply.text


def main(client: chutes.AsyncClient, url: str | None = None) -> str:
    """Run the app in-process with ``client`` and return one streamed reply."""
    text = asyncio.run(serve_once(client, url))
    print(text)
    return text


def fake_platform() -> FakeChutes:
    """The offline fake with the gateway model."""
    fake = FakeChutes(api_key="example-key")
    fake.add_model(MODEL)
    return fake


if __name__ == "__main__":
    args = _run.parse(__doc__.splitlines()[0] if __doc__ else None)
    main(_run.client_for(args.url, fake_platform, chutes.AsyncClient), args.url)
