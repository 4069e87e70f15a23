"""Generate an image with an OpenAI-style images endpoint and save it to a file."""

from __future__ import annotations

import sys
from pathlib import Path

import chutes

IMAGE_CHUTE = "chutes/FLUX.1-schnell"


def main(client: chutes.Client, *, out: Path = Path("lighthouse.png")) -> Path:
    """Generate one image, save it to ``out`` and return the path."""
    chute = client.chute(IMAGE_CHUTE)
    result = chute.images.generate(
        prompt="a lighthouse at dusk", size="512x512", response_format="b64_json"
    )
    saved = result.data[0].save(out)
    print(f"saved {saved} ({saved.stat().st_size} bytes)")
    return saved


if __name__ == "__main__":
    with chutes.Client() as cli:
        main(cli, out=Path(sys.argv[1]) if len(sys.argv) > 1 else Path("lighthouse.png"))
