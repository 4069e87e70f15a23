"""What Jupyter shows for the library's own objects: an image inline, a chat completion's
text, a chute's table. A representation never downloads and never raises."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import chutes
from chutes._core.platform import chute_info

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00" + bytes(32) + b"\xff\xd9"
IMAGE_CLASSES = [chutes.Image, chutes.AsyncImage]


def fetch_refused(url: str) -> Any:
    """A downloader that fails the test: a representation must not download."""
    raise AssertionError(f"a representation downloaded {url}")


@pytest.mark.parametrize("cls", IMAGE_CLASSES)
@pytest.mark.parametrize(
    ("image", "png", "jpeg"),
    [
        pytest.param({"b64_json": base64.b64encode(PNG).decode()}, PNG, None, id="b64-png"),
        pytest.param({"b64_json": base64.b64encode(JPEG).decode()}, None, JPEG, id="b64-jpeg"),
        pytest.param({"data": PNG, "content_type": "image/png"}, PNG, None, id="raw-png"),
        pytest.param({"data": JPEG, "content_type": "image/jpeg"}, None, JPEG, id="raw-jpeg"),
        pytest.param({"data": JPEG, "content_type": "image/png"}, None, JPEG, id="mislabelled"),
        pytest.param({"data": b"GIF89a...", "content_type": "image/gif"}, None, None, id="gif"),
        pytest.param({"url": "https://cdn.example.com/x.png"}, None, None, id="url-only"),
        pytest.param({"b64_json": "not base64!"}, None, None, id="bad-base64"),
        pytest.param({}, None, None, id="nothing"),
    ],
)
def test_image_shows_inline_when_its_bytes_are_here(
    cls: type, image: dict[str, Any], png: bytes | None, jpeg: bytes | None
) -> None:
    """``_repr_png_`` / ``_repr_jpeg_`` give the bytes held (base64 or raw) of that format,
    told by the bytes' own signature; a URL-only, broken or other image gives ``None``."""
    found = cls(**image, fetch=fetch_refused)
    assert found._repr_png_() == png
    assert found._repr_jpeg_() == jpeg


def completion(content: str | None) -> chutes.ChatCompletion:
    """A chat completion whose one choice says ``content``."""
    message = chutes.ChatMessage(role="assistant", content=content)
    return chutes.ChatCompletion(choices=[chutes.ChatChoice(message=message)])


def test_chat_completion_shows_its_text_as_markdown() -> None:
    """A completion shows the first choice's text, Markdown as the model wrote it."""
    assert completion("**Hi** there")._repr_markdown_() == "**Hi** there"


@pytest.mark.parametrize(
    "found",
    [
        pytest.param(completion(None), id="no-text"),
        pytest.param(completion(""), id="empty"),
        pytest.param(chutes.ChatCompletion(), id="no-choices"),
    ],
)
def test_chat_completion_without_text_falls_back(found: chutes.ChatCompletion) -> None:
    """No text: ``None``, so Jupyter shows the plain repr."""
    assert found._repr_markdown_() is None


def test_chute_info_shows_a_table_of_its_cords() -> None:
    """A chute shows its name, id, state, price, and a Markdown table of its cords."""
    info = chute_info(
        {
            "chute_id": "c-1",
            "name": "tts",
            "user": {"username": "me"},
            "hot": True,
            "instances": [{"instance_id": "i-1", "active": True}],
            "current_estimated_price": {"usd": {"hour": 1.5}},
            "cords": [
                {
                    "method": "post",
                    "path": "/speak",
                    "stream": False,
                    "output_content_type": "audio/wav",
                    "input_schema": {
                        "properties": {"text": {"type": "string"}},
                        "required": ["text"],
                    },
                }
            ],
        }
    )
    assert info._repr_markdown_().splitlines() == [
        "**me/tts** (c-1): hot, 1 instance; $1.50/hour",
        "",
        "| method | path | stream | answers | body fields |",
        "|---|---|---|---|---|",
        "| POST | /speak | no | audio/wav | text: string (required) |",
    ]


def test_chute_info_escapes_what_the_server_sent() -> None:
    """HTML and table breaks in a chute's name or cords are escaped, not rendered."""
    info = chute_info(
        {
            "chute_id": "c-2",
            "name": "<img src=x onerror=alert(1)>",
            "cords": [{"method": "GET", "path": "/a|b", "output_content_type": "<b>bold</b>"}],
        }
    )
    shown = info._repr_markdown_()
    assert "<img" not in shown
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert "| GET | /a\\|b | no | &lt;b&gt;bold&lt;/b&gt; | - |" in shown


def test_chute_info_without_cords_is_one_line() -> None:
    """A chute whose cords were not sent (a list item) shows its summary line only."""
    info = chute_info({"chute_id": "c-3", "name": "x", "hot": False})
    assert info._repr_markdown_() == "**x** (c-3): cold, no instances; price unknown"
