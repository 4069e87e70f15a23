"""Quickstart: a chat reply, a streamed reply, an image and a custom cord.

Run it with no key and no network (it uses the shipped fake platform)::

    python examples/quickstart.py

With ``CHUTES_API_KEY`` set it calls the real platform; with ``--url`` any OpenAI-compatible
server, never the fake (steps the server does not have are reported as skipped; with no
``CHUTES_API_KEY`` a placeholder key is sent, which keyless local servers ignore).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import chutes
from chutes.testing import FakeChutes, FakeRequest, Reply

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

DEFAULT_MODEL = "deepseek-ai/DeepSeek-V3-0324"
IMAGE_CHUTE = "chutes/FLUX.1-schnell"
TTS_CHUTE = "chutes/kokoro"


def main(
    client: chutes.Client,
    *,
    url: str | None = None,
    model: str = DEFAULT_MODEL,
    out_dir: Path | None = None,
) -> None:
    """Run the four steps with ``client``, against ``url`` or the platform's chutes; files
    go to ``out_dir`` (a temporary directory, removed at the end, when not given)."""
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="chutes-quickstart-") as temporary:
            main(client, url=url, model=model, out_dir=Path(temporary))
        return
    out = Path(out_dir)
    llm = client.chute(url=url) if url else client.llm
    messages = [{"role": "user", "content": "Say hello to a new chutes user in one sentence."}]

    reply = llm.chat.completions.create(model=model, messages=messages, max_tokens=64)
    print("chat:", reply.choices[0].message.content)

    print("stream:", end=" ", flush=True)
    with llm.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for piece in stream.iter_text():
            print(piece, end="", flush=True)
    print()

    images = client.chute(url=url) if url else client.chute(IMAGE_CHUTE)
    try:
        image = images.images.generate(
            prompt="a red fox in the snow", path="/generate", width=256, height=256
        )
    except chutes.NotFoundError:
        print("image: skipped (this server has no /generate cord)")
    else:
        print("image:", image.data[0].save(out / "fox.png"))

    tts = client.chute(url=url) if url else client.chute(TTS_CHUTE)
    try:
        speech = tts.post("/speak", json={"text": "Hello from chutes!"})
    except chutes.NotFoundError:
        print("cord: skipped (this server has no /speak cord)")
    else:
        print("cord:", speech.save(out / "hello.wav"), f"({speech.content_type})")


def fake_platform() -> FakeChutes:
    """The offline fake with what the quickstart calls: the gateway model, a diffusion chute
    and a TTS chute."""
    fake = FakeChutes(api_key="quickstart-key")
    fake.add_model(DEFAULT_MODEL)
    fake.add_chute(IMAGE_CHUTE, template=None)
    fake.cord(TTS_CHUTE, "/speak", _fake_speak)
    return fake


def _fake_speak(request: FakeRequest) -> Reply:
    """A stand-in TTS cord: a valid, silent WAV file."""
    frames = 1600
    data_size = frames * 2
    header = (
        b"RIFF"
        + (36 + data_size).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + (16000).to_bytes(4, "little")
        + (32000).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + data_size.to_bytes(4, "little")
    )
    return Reply(content=header + b"\0" * data_size, content_type="audio/wav")


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, pick the real platform or the fake, and run :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="an OpenAI-compatible server instead of chutes.ai")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model to ask")
    parser.add_argument("--out", type=Path, help="where to save the image and audio")
    args = parser.parse_args(argv)
    with _run.client_for(args.url, fake_platform, chutes.Client) as client:
        main(client, url=args.url, model=args.model, out_dir=args.out)


if __name__ == "__main__":
    try:
        run()
    except chutes.ChutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
