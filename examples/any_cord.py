"""Call any cord: a diffusion chute's ``/generate`` and a TTS chute's ``/speak``.

Real media cords answer raw bytes (``image/jpeg``, ``audio/wav``), not base64 JSON;
``Response.save`` writes them as they came.
"""

from __future__ import annotations

from pathlib import Path

import chutes
from chutes.testing import FakeChutes, Reply

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

DIFFUSION_CHUTE = "chutes/FLUX.1-schnell"
TTS_CHUTE = "chutes/kokoro"


def main(client: chutes.Client, *, out_dir: Path = Path(), url: str | None = None) -> list[Path]:
    """Save one image and one spoken sentence to ``out_dir`` (from the server at ``url``,
    when given, else the platform's chutes); return their paths."""
    image = (client.chute(url=url) if url else client.chute(DIFFUSION_CHUTE)).post(
        "/generate",
        json={"prompt": "a watercolour fox", "width": 512, "height": 512, "seed": 42},
        timeout=300,
    )
    tts = client.chute(url=url) if url else client.chute(TTS_CHUTE)
    speech = tts.post("/speak", json={"text": "Hello from a chute."})
    paths = [
        image.save(out_dir / f"fox{_suffix(image.content_type)}"),
        speech.save(out_dir / f"hello{_suffix(speech.content_type)}"),
    ]
    for path, resp in zip(paths, (image, speech), strict=True):
        print(f"{path}: {resp.content_type}, invocation {resp.invocation_id}")
    return paths


def _suffix(content_type: str | None) -> str:
    return {
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "audio/wav": ".wav",
        "audio/x-wav": ".wav",
        "audio/mpeg": ".mp3",
    }.get(content_type or "", ".bin")


def fake_platform() -> FakeChutes:
    """The offline fake with a diffusion chute and a TTS cord."""
    fake = FakeChutes(api_key="example-key")
    fake.add_chute(DIFFUSION_CHUTE, template=None)
    fake.cord(
        TTS_CHUTE, "/speak", lambda _: Reply(content=b"RIFF....WAVE", content_type="audio/wav")
    )
    return fake


if __name__ == "__main__":
    args = _run.parse(__doc__.splitlines()[0] if __doc__ else None)
    with _run.client_for(args.url, fake_platform, chutes.Client) as cli:
        main(cli, url=args.url)
