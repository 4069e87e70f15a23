"""Stream a short story to stdout, piece by piece, with a plain ``for`` loop."""

from __future__ import annotations

import sys

import chutes
from chutes.testing import FakeChutes

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

MODEL = "deepseek-ai/DeepSeek-V3-0324"


def main(client: chutes.Client, *, model: str = MODEL, url: str | None = None) -> str:
    """Print the story as it arrives (from the server at ``url``, when given, else the
    gateway) and return it whole."""
    messages = [{"role": "user", "content": "Tell a three-sentence story about a lighthouse."}]
    pieces = []
    llm = client.chute(url=url) if url else client.llm
    with llm.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for piece in stream.iter_text():
            sys.stdout.write(piece)
            sys.stdout.flush()
            pieces.append(piece)
    sys.stdout.write("\n")
    if stream.usage is not None:
        print(f"[{stream.usage.completion_tokens} tokens]")
    return "".join(pieces)


def fake_platform() -> FakeChutes:
    """The offline fake with the gateway model."""
    fake = FakeChutes(api_key="example-key")
    fake.add_model(MODEL)
    return fake


if __name__ == "__main__":
    args = _run.parse(__doc__.splitlines()[0] if __doc__ else None)
    with _run.client_for(args.url, fake_platform, chutes.Client) as cli:
        main(cli, url=args.url)
