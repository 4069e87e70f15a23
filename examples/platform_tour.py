"""Know the platform: look a chute up, warm it up, call it, and see what it cost.

(Not named ``platform.py``: run as a script, a file of that name in this directory would
stand in for the standard library's ``platform`` module in every example here.)

Run it with no key (the offline fake platform), or with ``CHUTES_API_KEY`` set::

    python examples/platform_tour.py

``--url URL`` points both the platform API and the LLM gateway at ``URL`` (a self-hosted
platform, or a test server that answers like one).
"""

from __future__ import annotations

import chutes
from chutes.testing import FakeChutes

try:
    from . import _run
except ImportError:  # run as a script
    import _run  # type: ignore[import-not-found,no-redef]

CHUTE = "chutes/deepseek-v3"
MODEL = "deepseek-ai/DeepSeek-V3-0324"


def main(client: chutes.Client, *, chute: str = CHUTE, model: str = MODEL) -> float | None:
    """Show the chute behind ``model``, warm it up if it is cold, ask it one question, and
    return the estimated spend (USD) the client counted."""
    info = client.chutes.get(chute)
    print(f"{info.name}: {'hot' if info.hot else 'cold'}, {len(info.instances)} instance(s)")
    for cord in info.cords:
        fields = ", ".join((cord.body_schema or {}).get("properties", {})) or "-"
        stream = " (stream)" if cord.stream else ""
        print(f"  {cord.method} {cord.path}{stream}: {fields}")
    if not client.chutes.status(chute).hot:
        client.chutes.warmup(
            chute, timeout=600, on_status=lambda e: print(f"  {e.status}: {e.log}")
        )
    reply = client.llm.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "One word for the sea?"}], max_tokens=8
    )
    print("reply:", reply.choices[0].message.content)
    usage = client.usage
    print(f"tokens: {usage.total_tokens}, estimated cost: {usage.cost_usd} USD")
    return usage.cost_usd


def fake_platform() -> FakeChutes:
    """The offline fake: the model's chute starts cold and warms up in a few seconds of the
    fake's own time (no real waiting)."""
    fake = FakeChutes(api_key="example-key")
    fake.add_chute(CHUTE, hot=False, warmup_after=10)
    fake.add_model(MODEL, chute=CHUTE, price_in=0.3, price_out=1.2)
    return fake


if __name__ == "__main__":
    args = _run.parse(__doc__.splitlines()[0] if __doc__ else None)
    routes = {"api_url": args.url, "llm_url": args.url} if args.url else {}
    with _run.client_for(args.url, fake_platform, chutes.Client, **routes) as cli:
        main(cli)
