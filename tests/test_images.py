"""``images.generate``: base64 JSON, URL JSON and raw ``image/*`` answers, as one type.

A URL image is downloaded through the client's own pool; the key goes only to the chute's
own host, never to another one (a CDN, a bucket).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

import chutes
from chutes._sync.images import b64decode

DATA = Path(__file__).parent / "data"
KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.IMAGESabc123"
BASE = "http://127.0.0.1:9"
GENERATIONS = f"{BASE}/v1/images/generations"
CDN_URL = "https://cdn.example.com/out/0b1c.png"
OWN_URL = f"{BASE}/files/0b1c.png"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00" + bytes(32) + b"\xff\xd9"


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def mock() -> respx.MockRouter:
    """A respx router the test clients' transports answer from."""
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def client(mock: respx.MockRouter) -> Iterator[chutes.Client]:
    """A ``chutes.Client`` on the router, with a borrowed httpx client."""
    with (
        httpx.Client(transport=httpx.MockTransport(mock.handler)) as http,
        chutes.Client(api_key=KEY, http_client=http, max_retries=0) as made,
    ):
        yield made


@pytest.fixture
async def aclient(mock: respx.MockRouter) -> AsyncIterator[chutes.AsyncClient]:
    """A ``chutes.AsyncClient`` on the router, with a borrowed httpx client."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(mock.async_handler)) as http,
        chutes.AsyncClient(api_key=KEY, http_client=http, max_retries=0) as made,
    ):
        yield made


def _serve(mock: respx.MockRouter, kind: str) -> bytes:
    """Route the chute to answer in the given form; return the image bytes it serves."""
    if kind == "b64_json":
        mock.post(GENERATIONS).respond(
            200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
        )
        return PNG
    if kind == "url":
        mock.post(GENERATIONS).respond(200, json={"created": 1, "data": [{"url": CDN_URL}]})
        mock.get(CDN_URL, name="download").respond(
            200, content=PNG, headers={"content-type": "image/png"}
        )
        return PNG
    mock.post(f"{BASE}/generate").respond(200, content=JPEG, headers={"content-type": "image/jpeg"})
    return JPEG


KINDS = [
    pytest.param("b64_json", "/v1/images/generations", id="b64-json"),
    pytest.param("url", "/v1/images/generations", id="url-json"),
    pytest.param("raw", "/generate", id="raw-jpeg"),
]


# --- one type for every answer ------------------------------------------------------------


@pytest.mark.parametrize(("kind", "path"), KINDS)
def test_image_bytes_equal_served_bytes(
    client: chutes.Client, mock: respx.MockRouter, kind: str, path: str
) -> None:
    """``data[0].bytes()`` is exactly the image the chute served, whatever the form."""
    served = _serve(mock, kind)
    result = client.chute(url=BASE).images.generate(prompt="a cat", path=path)
    assert isinstance(result, chutes.ImagesResponse)
    assert result.data[0].bytes() == served


@pytest.mark.parametrize(("kind", "path"), KINDS)
async def test_async_image_bytes_equal_served_bytes(
    aclient: chutes.AsyncClient, mock: respx.MockRouter, kind: str, path: str
) -> None:
    """Async: ``await data[0].bytes()`` is exactly the image served, whatever the form."""
    served = _serve(mock, kind)
    result = await aclient.chute(url=BASE).images.generate(prompt="a cat", path=path)
    assert isinstance(result, chutes.AsyncImagesResponse)
    assert await result.data[0].bytes() == served


@pytest.mark.parametrize(("kind", "path"), KINDS)
def test_save_writes_the_bytes(
    client: chutes.Client, mock: respx.MockRouter, tmp_path: Path, kind: str, path: str
) -> None:
    """``save(path)`` writes the image bytes and returns the path."""
    served = _serve(mock, kind)
    image = client.chute(url=BASE).images.generate(prompt="a cat", path=path).data[0]
    target = tmp_path / "out.img"
    assert image.save(target) == target
    assert target.read_bytes() == served


@pytest.mark.parametrize(("kind", "path"), KINDS)
async def test_async_save_writes_the_bytes(
    aclient: chutes.AsyncClient, mock: respx.MockRouter, tmp_path: Path, kind: str, path: str
) -> None:
    """Async: ``await save(path)`` writes the image bytes."""
    served = _serve(mock, kind)
    image = (await aclient.chute(url=BASE).images.generate(prompt="a cat", path=path)).data[0]
    target = tmp_path / "out.img"
    await image.save(target)
    assert target.read_bytes() == served


def test_raw_answer_keeps_content_type(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A raw ``image/jpeg`` answer records its media type on the image."""
    _serve(mock, "raw")
    image = client.chute(url=BASE).images.generate(prompt="a cat", path="/generate").data[0]
    assert image.content_type == "image/jpeg"


def test_b64_answer_keeps_b64_json(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A base64 answer keeps ``b64_json`` as the server sent it."""
    _serve(mock, "b64_json")
    image = client.chute(url=BASE).images.generate(prompt="a cat").data[0]
    assert image.b64_json == base64.b64encode(PNG).decode()


def test_recorded_litellm_url_image(client: chutes.Client, mock: respx.MockRouter) -> None:
    """litellm's recorded URL answer decodes, and its URL is downloaded on ``bytes()``."""
    body = (DATA / "recorded/litellm/images.body").read_bytes()
    mock.post(GENERATIONS).respond(200, content=body, headers={"content-type": "application/json"})
    download = mock.get("https://example.invalid/mock.png").respond(200, content=PNG)
    result = client.chute(url=BASE).images.generate(prompt="a cat", response_format="url")
    assert result.raw == json.loads(body)
    assert result.data[0].url == "https://example.invalid/mock.png"
    assert result.data[0].bytes() == PNG
    assert download.call_count == 1


def test_invalid_base64_raises_decode_error(client: chutes.Client, mock: respx.MockRouter) -> None:
    """``b64_json`` that is not base64 raises DecodeError on ``bytes()``."""
    mock.post(GENERATIONS).respond(200, json={"data": [{"b64_json": "not base64!"}]})
    image = client.chute(url=BASE).images.generate(prompt="a cat").data[0]
    with pytest.raises(chutes.DecodeError):
        image.bytes()


# --- where the key goes -------------------------------------------------------------------


def test_url_on_another_host_downloaded_without_key(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """A URL image on another host is fetched with no Authorization or X-API-Key header."""
    _serve(mock, "url")
    download = mock["download"]
    client.chute(url=BASE).images.generate(prompt="a cat").data[0].bytes()
    headers = download.calls.last.request.headers
    assert "authorization" not in headers
    assert "x-api-key" not in headers
    assert KEY not in str(download.calls.last.request.headers.raw)


def test_url_on_another_host_downloaded_without_x_api_key(mock: respx.MockRouter) -> None:
    """With ``auth_header="x-api-key"`` the key still never reaches another host."""
    _serve(mock, "url")
    download = mock["download"]
    with (
        httpx.Client(transport=httpx.MockTransport(mock.handler)) as http,
        chutes.Client(api_key=KEY, auth_header="x-api-key", http_client=http) as client,
    ):
        client.chute(url=BASE).images.generate(prompt="a cat").data[0].bytes()
    headers = download.calls.last.request.headers
    assert "x-api-key" not in headers
    assert "authorization" not in headers


def test_url_on_own_host_downloaded_with_key(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A URL image on the chute's own host is fetched with the key."""
    mock.post(GENERATIONS).respond(200, json={"data": [{"url": OWN_URL}]})
    download = mock.get(OWN_URL).respond(200, content=PNG, headers={"content-type": "image/png"})
    image = client.chute(url=BASE).images.generate(prompt="a cat").data[0]
    assert image.bytes() == PNG
    assert download.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


async def test_async_url_on_another_host_downloaded_without_key(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: a URL image on another host is fetched with no Authorization header."""
    _serve(mock, "url")
    download = mock["download"]
    await (await aclient.chute(url=BASE).images.generate(prompt="a cat")).data[0].bytes()
    headers = download.calls.last.request.headers
    assert "authorization" not in headers
    assert "x-api-key" not in headers


async def test_async_url_on_own_host_downloaded_with_key(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: a URL image on the chute's own host is fetched with the key."""
    mock.post(GENERATIONS).respond(200, json={"data": [{"url": OWN_URL}]})
    download = mock.get(OWN_URL).respond(200, content=PNG)
    image = (await aclient.chute(url=BASE).images.generate(prompt="a cat")).data[0]
    assert await image.bytes() == PNG
    assert download.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def test_same_host_other_scheme_gets_no_key(client: chutes.Client, mock: respx.MockRouter) -> None:
    """A URL on the chute's host name but another scheme is treated as another host."""
    other = "https://127.0.0.1:9/files/0b1c.png"
    mock.post(GENERATIONS).respond(200, json={"data": [{"url": other}]})
    download = mock.get(other).respond(200, content=PNG)
    client.chute(url=BASE).images.generate(prompt="a cat").data[0].bytes()
    assert "authorization" not in download.calls.last.request.headers


# --- what the diffusion cord is sent ------------------------------------------------------


def test_generate_cord_gets_flat_body(client: chutes.Client, mock: respx.MockRouter) -> None:
    """``path="/generate"`` sends a flat body of the diffusion parameters."""
    route = mock.post(f"{BASE}/generate").respond(
        200, content=JPEG, headers={"content-type": "image/jpeg"}
    )
    client.chute(url=BASE).images.generate(
        prompt="a lighthouse at dusk",
        path="/generate",
        width=1024,
        height=768,
        num_inference_steps=25,
        guidance_scale=7.5,
        seed=42,
        negative_prompt="blurry",
    )
    assert json.loads(route.calls.last.request.content) == {
        "prompt": "a lighthouse at dusk",
        "width": 1024,
        "height": 768,
        "num_inference_steps": 25,
        "guidance_scale": 7.5,
        "seed": 42,
        "negative_prompt": "blurry",
    }


async def test_async_generate_cord_gets_flat_body(
    aclient: chutes.AsyncClient, mock: respx.MockRouter
) -> None:
    """Async: ``path="/generate"`` sends a flat body of the diffusion parameters."""
    route = mock.post(f"{BASE}/generate").respond(
        200, content=JPEG, headers={"content-type": "image/jpeg"}
    )
    await aclient.chute(url=BASE).images.generate(
        prompt="a lighthouse", path="/generate", width=512, height=512, seed=None
    )
    assert json.loads(route.calls.last.request.content) == {
        "prompt": "a lighthouse",
        "width": 512,
        "height": 512,
        "seed": None,
    }


def test_openai_images_body(client: chutes.Client, mock: respx.MockRouter) -> None:
    """The default call sends OpenAI's fields to ``/v1/images/generations``."""
    route = mock.post(GENERATIONS).respond(200, json={"data": []})
    client.chute(url=BASE).images.generate(
        prompt="a cat", model="flux", n=2, size="512x512", response_format="b64_json"
    )
    assert json.loads(route.calls.last.request.content) == {
        "prompt": "a cat",
        "model": "flux",
        "n": 2,
        "size": "512x512",
        "response_format": "b64_json",
    }


def test_unexpected_media_type_raises_decode_error(
    client: chutes.Client, mock: respx.MockRouter
) -> None:
    """A cord answering neither JSON nor ``image/*`` raises DecodeError carrying the body."""
    mock.post(f"{BASE}/generate").respond(
        200, content=b"RIFF....WAVE", headers={"content-type": "audio/wav"}
    )
    with pytest.raises(chutes.DecodeError) as info:
        client.chute(url=BASE).images.generate(prompt="a cat", path="/generate")
    assert info.value.body == b"RIFF....WAVE"


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet="AQgw09+/=\n\r\t x_é-", max_size=16))
def test_b64decode_is_b64decode_with_validate(text: str) -> None:
    """Image bytes decode exactly as ``base64.b64decode(validate=True)``: same bytes, and
    an error for the same texts."""

    def outcome(decode: Any) -> tuple[Any, ...]:
        try:
            return ("ok", decode(text))
        except (binascii.Error, ValueError):
            return ("error",)

    assert outcome(b64decode) == outcome(lambda t: base64.b64decode(t, validate=True))
