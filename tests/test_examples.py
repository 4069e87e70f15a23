"""Every example runs: in-process on the fake, as a script, and against a real local server."""

from __future__ import annotations

import http.server
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pngcheck import png_size

import chutes
from chutes.testing import FakeChutes, FakeRequest, Reply

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RECORDED = Path(__file__).resolve().parent / "data" / "recorded" / "llamacpp"
KEY = "examples-test-secret-key"
SERVER_KEY = "cpk_0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef.LocalServer1"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


def speak(request: FakeRequest) -> Reply:
    """A stand-in ``/speak`` cord answering WAV bytes."""
    return Reply(content=WAV, content_type="audio/wav")


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import ``examples.<name>`` with the repository root on ``sys.path``."""
    monkeypatch.syspath_prepend(str(REPO))

    def load(name: str) -> ModuleType:
        return importlib.import_module(f"examples.{name}")

    return load


@pytest.fixture
def fake() -> FakeChutes:
    """A fake platform with the chutes and the model the examples call."""
    fake = FakeChutes(api_key=KEY)
    fake.add_model("deepseek-ai/DeepSeek-V3-0324")
    fake.add_chute("chutes/FLUX.1-schnell", template=None)
    fake.cord("chutes/kokoro", "/speak", speak)
    return fake


@pytest.fixture
def client(fake: FakeChutes) -> Iterator[chutes.Client]:
    """A blocking client on the fake."""
    with fake.client() as client:
        yield client


def lines_of(text: str) -> dict[str, str]:
    """``{"chat": rest, ...}`` for lines shaped ``key: rest``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep and key.isidentifier():
            found.setdefault(key, rest.strip())
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no chutes variables, no proxies, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("CHUTES_") and "PROXY" not in name.upper()
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


# --- in-process, on the fake ------------------------------------------------------------


def test_quickstart_main_prints_every_step(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``quickstart.main`` prints a chat, stream, image and cord line."""
    examples("quickstart").main(client, out_dir=tmp_path)
    found = lines_of(capsys.readouterr().out)
    assert {"chat", "stream", "image", "cord"} <= set(found)
    assert found["chat"]
    assert found["stream"]


def test_quickstart_main_chat_equals_stream(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fake's chat and streamed replies print the same text for the same prompt."""
    examples("quickstart").main(client, out_dir=tmp_path)
    found = lines_of(capsys.readouterr().out)
    assert found["chat"] == found["stream"]


def test_quickstart_main_saves_png(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``quickstart.main`` saves the generated image as a 256x256 PNG in ``out_dir``."""
    examples("quickstart").main(client, out_dir=tmp_path)
    saved = Path(lines_of(capsys.readouterr().out)["image"])
    assert saved.parent == tmp_path
    assert png_size(saved.read_bytes()) == (256, 256)


def test_quickstart_main_saves_cord_audio(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``quickstart.main`` saves the ``/speak`` cord's bytes and names their type."""
    examples("quickstart").main(client, out_dir=tmp_path)
    cord = lines_of(capsys.readouterr().out)["cord"]
    assert "audio/wav" in cord
    assert (tmp_path / "hello.wav").read_bytes() == WAV


def test_quickstart_run_uses_fake_without_key(
    examples: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``quickstart.run`` with no ``CHUTES_API_KEY`` runs every step on the fake."""
    monkeypatch.delenv("CHUTES_API_KEY", raising=False)
    examples("quickstart").run(["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "fake" in out.splitlines()[0]
    assert (tmp_path / "fox.png").exists()
    assert (tmp_path / "hello.wav").exists()


def test_stream_story_prints_story(
    examples: Any, fake: FakeChutes, client: chutes.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """``stream_story.main`` prints the streamed story and returns it."""
    fake.reply("llm", "Once there was a lighthouse. It shone. The end.")
    story = examples("stream_story").main(client)
    out = capsys.readouterr().out
    assert story == "Once there was a lighthouse. It shone. The end."
    assert out.startswith(story + "\n")


def test_stream_story_prints_token_count(
    examples: Any, fake: FakeChutes, client: chutes.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """``stream_story.main`` prints the streamed usage's completion tokens."""
    fake.reply("llm", "Once there was a lighthouse.")
    examples("stream_story").main(client)
    assert "[5 tokens]" in capsys.readouterr().out


def test_image_example_saves_png(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``image.main`` saves a valid 512x512 PNG and reports its size."""
    saved = examples("image").main(client, out=tmp_path / "lighthouse.png")
    assert saved == tmp_path / "lighthouse.png"
    assert png_size(saved.read_bytes()) == (512, 512)
    assert f"({saved.stat().st_size} bytes)" in capsys.readouterr().out


def test_any_cord_saves_both_files(examples: Any, client: chutes.Client, tmp_path: Path) -> None:
    """``any_cord.main`` saves the ``/generate`` image and the ``/speak`` audio."""
    paths = examples("any_cord").main(client, out_dir=tmp_path)
    assert [p.name for p in paths] == ["fox.png", "hello.wav"]
    assert all(p.exists() for p in paths)


def test_any_cord_image_is_png(examples: Any, client: chutes.Client, tmp_path: Path) -> None:
    """``any_cord.main``'s image is the raw 512x512 PNG the cord answered."""
    image, _ = examples("any_cord").main(client, out_dir=tmp_path)
    assert png_size(image.read_bytes()) == (512, 512)


def test_any_cord_audio_is_cord_bytes(examples: Any, client: chutes.Client, tmp_path: Path) -> None:
    """``any_cord.main``'s audio file holds exactly the ``/speak`` cord's bytes."""
    _, audio = examples("any_cord").main(client, out_dir=tmp_path)
    assert audio.read_bytes() == WAV


def test_any_cord_prints_invocation_ids(
    examples: Any, client: chutes.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``any_cord.main`` prints each file's content type and invocation id."""
    examples("any_cord").main(client, out_dir=tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "image/png" in out[0]
    assert "audio/wav" in out[1]
    assert all("invocation None" not in line for line in out)


def test_web_backend_returns_reply(examples: Any, fake: FakeChutes) -> None:
    """``web_backend.main`` serves one streamed chat reply through the app."""
    fake.reply("llm", "Hello, browser user.")
    assert examples("web_backend").main(fake.async_client()) == "Hello, browser user."


def test_web_backend_streams_the_prompt(examples: Any, fake: FakeChutes) -> None:
    """``web_backend.main`` sends the browser's prompt to the gateway as a stream."""
    examples("web_backend").main(fake.async_client())
    sent = fake.requests[-1]
    assert sent.chute == "https://llm.chutes.ai"
    assert sent.json["stream"] is True
    assert sent.json["messages"] == [{"role": "user", "content": "hello from the browser"}]


def test_web_backend_closes_client(examples: Any, fake: FakeChutes) -> None:
    """``web_backend.main`` closes the client at the app's shutdown."""
    client = fake.async_client()
    examples("web_backend").main(client)
    assert client.is_closed


# --- the notebook ---------------------------------------------------------------------


def notebook_cells() -> list[str]:
    """The notebook's code cells, as source strings in order."""
    notebook = json.loads((EXAMPLES / "notebook.ipynb").read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


@pytest.fixture
def notebook_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], str]:
    """Execute every code cell in one namespace without a key; (namespace, output)."""
    monkeypatch.delenv("CHUTES_API_KEY", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    for source in notebook_cells():
        exec(compile(source, "notebook.ipynb", "exec"), namespace)  # noqa: S102
    return namespace, capsys.readouterr().out


def test_notebook_has_code_cells() -> None:
    """The notebook holds several code cells."""
    assert len(notebook_cells()) >= 4


def test_notebook_runs_on_fake(notebook_run: tuple[dict[str, Any], str]) -> None:
    """Without a key the notebook uses the fake and prints a chat reply."""
    namespace, out = notebook_run
    assert isinstance(namespace["reply"], chutes.ChatCompletion)
    assert namespace["reply"].choices[0].message.content in out


def test_notebook_streams_text(notebook_run: tuple[dict[str, Any], str]) -> None:
    """The notebook's streaming cell prints the streamed text."""
    namespace, out = notebook_run
    streamed = namespace["stream"].usage
    assert streamed is not None
    assert streamed.completion_tokens > 0
    assert "Count to five." in out


def test_notebook_saves_png(notebook_run: tuple[dict[str, Any], str]) -> None:
    """The notebook's image cell saves a valid 128x128 PNG and prints its path."""
    namespace, out = notebook_run
    saved = namespace["saved"]
    assert png_size(saved.read_bytes()) == (128, 128)
    assert str(saved) in out


def test_notebook_prints_usage_and_closes(notebook_run: tuple[dict[str, Any], str]) -> None:
    """The notebook's last cell prints the usage and closes the client."""
    namespace, out = notebook_run
    assert namespace["client"].usage.requests == 3
    assert "UsageSnapshot" in out
    assert namespace["client"].is_closed


# --- as a script ------------------------------------------------------------------------


@pytest.fixture
def fake_script_run(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python examples/quickstart.py --out <dir>`` with no key; (result, out dir)."""
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(  # noqa: S603 - our own interpreter and example script
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--out", str(out)],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, out


def test_script_exits_zero(fake_script_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """The quickstart script succeeds with no key and no network."""
    result, _ = fake_script_run
    assert result.returncode == 0, result.stderr


def test_script_says_fake_is_used(
    fake_script_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The script's first line says the offline fake is used."""
    result, _ = fake_script_run
    first = result.stdout.splitlines()[0]
    assert "fake" in first
    assert "CHUTES_API_KEY" in first


def test_script_prints_every_step(
    fake_script_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The script prints chat, stream and image lines."""
    result, _ = fake_script_run
    found = lines_of(result.stdout)
    assert found["chat"]
    assert found["stream"]
    assert found["image"]


def test_script_image_is_png(
    fake_script_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """The image path the script prints is a valid 256x256 PNG inside ``--out``."""
    result, out = fake_script_run
    saved = Path(lines_of(result.stdout)["image"])
    assert saved.parent == out
    assert png_size(saved.read_bytes()) == (256, 256)


# --- against a real local OpenAI-compatible server -------------------------------------


def stream_text_of(body: bytes) -> str:
    """The text of a recorded chat stream's content deltas."""
    pieces = []
    for line in body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:])["choices"]:
                pieces.append(choice["delta"].get("content") or "")
    return "".join(pieces)


class LlamaServer:
    """A llama.cpp-like server on 127.0.0.1 serving recorded payloads; records requests."""

    def __init__(self) -> None:
        self.chat = (RECORDED / "chat.body").read_bytes()
        self.stream = (RECORDED / "chat-stream.body").read_bytes()
        self.seen: list[tuple[str, str, dict[str, Any] | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output clean."""

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                with server.lock:
                    server.seen.append((self.command, self.path, parsed))
                if self.headers.get("Authorization") != f"Bearer {SERVER_KEY}":
                    self.answer(401, b'{"detail":"Invalid API key"}', "application/json")
                elif self.command == "POST" and self.path == "/v1/chat/completions":
                    if isinstance(parsed, dict) and parsed.get("stream"):
                        self.answer(200, server.stream, "text/event-stream; charset=utf-8")
                    else:
                        self.answer(200, server.chat, "application/json")
                else:
                    self.answer(404, b'{"detail":"Not Found"}', "application/json")

            do_GET = do_POST = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def llama_server() -> Iterator[LlamaServer]:
    """A real HTTP server on 127.0.0.1 (port 0) in a background thread, stopped afterwards."""
    server = LlamaServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=10)


@pytest.fixture
def url_script_run(
    llama_server: LlamaServer, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], LlamaServer]:
    """``quickstart.py --url <local server> --model tiny-llama`` with a key; (result, server)."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and example script
        [
            sys.executable,
            str(EXAMPLES / "quickstart.py"),
            "--url",
            llama_server.url,
            "--model",
            "tiny-llama",
            "--out",
            str(tmp_path),
        ],
        env=clean_env(CHUTES_API_KEY=SERVER_KEY),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, llama_server


def test_url_script_exits_zero(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The script succeeds against a real OpenAI-compatible server."""
    result, _ = url_script_run
    assert result.returncode == 0, result.stderr


def test_url_script_names_the_server(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The first line names the server URL, not the fake."""
    result, server = url_script_run
    first = result.stdout.splitlines()[0]
    assert server.url in first
    assert "fake" not in first


def test_url_script_chat_line_is_server_reply(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The chat line prints the recorded server's reply text."""
    result, server = url_script_run
    content = json.loads(server.chat)["choices"][0]["message"]["content"]
    assert f"chat: {content}" in result.stdout.splitlines()


def test_url_script_stream_line_is_server_stream(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The stream line prints the recorded stream's text."""
    result, server = url_script_run
    assert f"stream: {stream_text_of(server.stream)}" in result.stdout.splitlines()


def test_url_script_skips_image_and_cord(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The image and cord steps say "skipped" on a server without those cords."""
    result, _ = url_script_run
    found = lines_of(result.stdout)
    assert found["image"].startswith("skipped")
    assert found["cord"].startswith("skipped")


def test_url_script_requests_reach_server(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """The server received a plain chat, a streamed chat, ``/generate`` and ``/speak``."""
    _, server = url_script_run
    seen = [(method, path) for method, path, _ in server.seen]
    assert seen == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/generate"),
        ("POST", "/speak"),
    ]


def test_url_script_sends_model_and_stream_flag(
    url_script_run: tuple[subprocess.CompletedProcess[str], LlamaServer],
) -> None:
    """Both chat requests ask for ``tiny-llama``; only the second streams."""
    _, server = url_script_run
    bodies = [body for _, path, body in server.seen if path == "/v1/chat/completions"]
    assert [b["model"] for b in bodies if b] == ["tiny-llama", "tiny-llama"]
    assert [bool(b.get("stream")) for b in bodies if b] == [False, True]


# --- every example from the command line: offline, or --url, never the fake with --url -------

SCRIPTS = ["quickstart", "any_cord", "image", "stream_story", "web_backend", "platform_tour"]


def run_script(name: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python examples/<name>.py *args`` in a clean environment."""
    return subprocess.run(  # noqa: S603 - our own interpreter and example script
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        env=clean_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_runs_offline_on_the_fake(name: str, tmp_path: Path) -> None:
    """Each example, run with no key, succeeds against the offline fake and says so."""
    result = run_script(name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "offline fake platform" in result.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_with_url_an_example_never_uses_the_fake(
    name: str, tmp_path: Path, unused_tcp_port: int
) -> None:
    """--url with nothing listening fails (exit 1 or an error), never "succeeds" on the fake."""
    url = f"http://127.0.0.1:{unused_tcp_port}"
    result = run_script(name, "--url", url, cwd=tmp_path)
    assert result.returncode != 0
    assert "offline fake" not in result.stdout
    assert f"Using {url} with a placeholder key" in result.stdout


def test_stream_story_with_url_streams_from_that_server(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    """stream_story.py --url streams from the given server (not the gateway)."""
    result = run_script("stream_story", "--url", llama_server.url, cwd=tmp_path,
                        CHUTES_API_KEY=SERVER_KEY)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ("POST", "/v1/chat/completions") in [(m, p) for m, p, _ in llama_server.seen]


def test_quickstart_removes_its_temporary_directory(tmp_path: Path) -> None:
    """Run without --out, the quickstart leaves nothing in the temporary directory."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run_script("quickstart", cwd=tmp_path, TMPDIR=str(scratch))
    assert result.returncode == 0, result.stderr
    assert list(scratch.iterdir()) == []
