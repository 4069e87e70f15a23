"""Generate an image with an OpenAI-style images endpoint and save it to a file."""

from __future__ import annotations

import sys
from pathlib import Path

import chutes
from chutes.testing import FakeChutes

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

IMAGE_CHUTE = "chutes/FLUX.1-schnell"


def main(
    client: chutes.Client, *, out: Path = Path("lighthouse.png"), url: str | None = None
) -> Path:
    """Generate one image (on the server at ``url``, when given), save it to ``out`` and
    return the path."""
    chute = client.chute(url=url) if url else client.chute(IMAGE_CHUTE)
    result = chute.images.generate(
        prompt="a lighthouse at dusk", size="512x512", response_format="b64_json"
    )
    saved = result.data[0].save(out)
    print(f"saved {saved} ({saved.stat().st_size} bytes)")
    return saved


def fake_platform() -> FakeChutes:
    """The offline fake with the image chute."""
    fake = FakeChutes(api_key="example-key")
    fake.add_chute(IMAGE_CHUTE, template=None)
    return fake


if __name__ == "__main__":
    args = _run.parse(__doc__.splitlines()[0] if __doc__ else None)
    paths = [a for a in sys.argv[1:] if not a.startswith("--") and a != args.url]
    with _run.client_for(args.url, fake_platform, chutes.Client) as cli:
        main(cli, out=Path(paths[0]) if paths else Path("lighthouse.png"), url=args.url)
