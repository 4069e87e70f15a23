"""Stream a short story to stdout, piece by piece, with a plain ``for`` loop."""

from __future__ import annotations

import sys

import chutes

MODEL = "deepseek-ai/DeepSeek-V3-0324"


def main(client: chutes.Client, *, model: str = MODEL) -> str:
    """Print the story as it arrives and return it whole."""
    messages = [{"role": "user", "content": "Tell a three-sentence story about a lighthouse."}]
    pieces = []
    with client.llm.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for piece in stream.iter_text():
            sys.stdout.write(piece)
            sys.stdout.flush()
            pieces.append(piece)
    sys.stdout.write("\n")
    if stream.usage is not None:
        print(f"[{stream.usage.completion_tokens} tokens]")
    return "".join(pieces)


if __name__ == "__main__":
    with chutes.Client() as cli:
        main(cli)
