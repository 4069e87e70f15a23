"""Call any cord: a diffusion chute's ``/generate`` and a TTS chute's ``/speak``.

Real media cords answer raw bytes (``image/jpeg``, ``audio/wav``), not base64 JSON;
``Response.save`` writes them as they came.
"""

from __future__ import annotations

from pathlib import Path

import chutes

DIFFUSION_CHUTE = "chutes/FLUX.1-schnell"
TTS_CHUTE = "chutes/kokoro"


def main(client: chutes.Client, *, out_dir: Path = Path()) -> list[Path]:
    """Save one image and one spoken sentence to ``out_dir``; return their paths."""
    image = client.chute(DIFFUSION_CHUTE).post(
        "/generate",
        json={"prompt": "a watercolour fox", "width": 512, "height": 512, "seed": 42},
        timeout=300,
    )
    speech = client.chute(TTS_CHUTE).post("/speak", json={"text": "Hello from a chute."})
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


if __name__ == "__main__":
    with chutes.Client() as cli:
        main(cli)
