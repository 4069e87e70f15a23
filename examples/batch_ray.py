"""Label a dataset on a Ray cluster: one chutes client per actor, one rate budget for all.

Needs the ``[ray]`` extra (``pip install 'chutes-client[ray]'``). The platform's limits are
per user, so adding machines does not raise the rate the edge allows: ``rate_limit`` is
the whole run's budget, split across the actors.

    python examples/batch_ray.py                       # a local Ray, the real gateway
    python examples/batch_ray.py --llm-url http://127.0.0.1:8000 --address auto
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

import chutes.ray

MODEL = "deepseek-ai/DeepSeek-V3-0324"


def questions(count: int) -> list[dict[str, Any]]:
    """The rows: one short chat request each, with its own id."""
    return [
        {
            "custom_id": f"q{number}",
            "messages": [{"role": "user", "content": f"Is {number} a prime number? yes or no."}],
            "max_tokens": 5,
        }
        for number in range(count)
    ]


def answer(row: Mapping[str, Any]) -> str | None:
    """A result row's answer text, or None when it failed."""
    if not row["ok"]:
        return None
    body = json.loads(row["response"])["body"]
    content: str | None = body["choices"][0]["message"]["content"]
    return content


def main(
    *,
    rows: int = 40,
    concurrency: int = 2,
    rate_limit: float | None = 50,
    client_options: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Ask ``rows`` questions across ``concurrency`` actors; print a few answers and return
    every result row (starting a local Ray with two CPUs unless one is running)."""
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else 2, include_dashboard=False)
    try:
        dataset = ray.data.from_items(questions(rows))
        mapped = chutes.ray.map_batches(
            dataset,
            model=MODEL,
            concurrency=concurrency,
            rate_limit=rate_limit,
            client_options=client_options,
        )
        results = sorted(mapped.take_all(), key=lambda row: int(row["custom_id"][1:]))
    finally:
        if started:
            ray.shutdown()
    failed = sum(not row["ok"] for row in results)
    for row in results[:3]:
        print(f"{row['custom_id']}: {answer(row)!r} ({row['attempts']} attempt(s))")
    print(f"{len(results)} rows, {failed} failed")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--rpm", type=float, default=50)
    parser.add_argument("--llm-url", help="the gateway (default: CHUTES_LLM_URL or llm.chutes.ai)")
    parser.add_argument("--address", help="a running Ray cluster ('auto'); default: start one")
    args = parser.parse_args()
    main(
        rows=args.rows,
        concurrency=args.actors,
        rate_limit=args.rpm,
        client_options={"llm_url": args.llm_url} if args.llm_url else None,
        address=args.address,
    )
