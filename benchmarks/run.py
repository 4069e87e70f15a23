"""Benchmark chutes-client against raw httpx (the floor) and, when installed, the OpenAI SDK.

Usage::

    python benchmarks/run.py                 # 5 interleaved rounds, full counts
    python benchmarks/run.py --quick         # a smoke run with small counts (about a minute)
    python benchmarks/run.py --rounds 9 --only s1,s2 --pin
    python benchmarks/run.py --profile       # cProfile of the chutes clients (top 15 by tottime)

Every measurement runs in a fresh interpreter (``benchmarks/clients.py``) against one local
server process (``benchmarks/server.py``) that this runner starts on 127.0.0.1 and always
stops. Rounds are interleaved (each round runs every client once, in a rotated order) and
each ratio is taken against the floor measured in the same round; the table shows medians
over rounds. Results go to stdout, ``benchmarks/results.md`` and ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVER = HERE / "server.py"
CLIENTS = HERE / "clients.py"
PYTHON = sys.executable
CHILD_TIMEOUT = 600.0
PACKAGES = [
    "chutes-client",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "httpx-sse",
    "attrs",
    "cattrs",
    "openai",
    "httpx2",
    "httpcore2",
    "pydantic",
    "pydantic-core",
]


@dataclass(frozen=True)
class Counts:
    rounds: int
    s1_requests: int
    s1_warmup: int
    s2_chunks: int
    s3_requests: int
    s3_concurrency: int
    s4_repeats: int
    s5_calls: int
    s5_warmup: int
    s6_requests: int
    s6_small: int
    s6_concurrency: int
    e2ee_requests: int
    e2ee_chunks: int
    cold_repeats: int


FULL = Counts(
    rounds=5,
    s1_requests=3000,
    s1_warmup=50,
    s2_chunks=20_000,
    s3_requests=1000,
    s3_concurrency=100,
    s4_repeats=15,
    s5_calls=50,
    s5_warmup=3,
    s6_requests=10_000,
    s6_small=2_000,
    s6_concurrency=64,
    e2ee_requests=1000,
    e2ee_chunks=5000,
    cold_repeats=5,
)
QUICK = Counts(
    rounds=3,
    s1_requests=400,
    s1_warmup=20,
    s2_chunks=5000,
    s3_requests=200,
    s3_concurrency=100,
    s4_repeats=4,
    s5_calls=8,
    s5_warmup=2,
    s6_requests=1000,
    s6_small=200,
    s6_concurrency=64,
    e2ee_requests=100,
    e2ee_chunks=1000,
    cold_repeats=2,
)


@dataclass(frozen=True)
class Row:
    """One line of the table: a metric of one client, compared with the floor's."""

    scenario: str
    label: str  # what the scenario measures, shown in the table
    client: str
    client_label: str
    metric: str  # key in the per-round result
    unit: str
    target: float | None = None
    extra: str | None = None  # a second metric shown beside the first
    extra_unit: str = ""


@dataclass
class Summary:
    row: Row
    median: float
    extra_median: float | None
    ratio: float | None
    ratio_min: float | None
    ratio_max: float | None
    rounds: int
    ok: bool | None = None
    samples: list[float] = field(default_factory=list)


# Scenario -> (floor client, the other clients). The floor is measured in every round.
PLAN: dict[str, tuple[str, list[str]]] = {
    "s1": ("httpx", ["chutes-helper", "chutes-any-cord", "openai"]),
    "s2": (
        "httpx-lines",
        ["httpx-sse", "httpx-sse-cattrs", "chutes-typed", "chutes-iter_text", "openai"],
    ),
    "s3": ("httpx", ["chutes-helper", "chutes-any-cord", "openai"]),
    "s4": ("httpx", ["chutes", "chutes-loaded", "openai", "python"]),
    "s5": ("httpx", ["chutes", "openai"]),
    "s6": ("httpx-gather", ["chutes-gather", "chutes-batch", "chutes-batch-sync"]),
    "e2ee": ("httpx", ["chutes-clear", "chutes-e2ee"]),
    "e2ee-stream": ("httpx-lines", ["chutes-clear", "chutes-e2ee"]),
    "cold": ("httpx", ["chutes", "openai"]),
}
IMPORTS = {
    "httpx": "import httpx",
    "chutes": "import chutes",
    # chutes/__init__ resolves its names lazily: touching Client loads the client for real.
    "chutes-loaded": "import chutes; chutes.Client",
    "openai": "import openai",
    "python": "pass",
}

# fmt: off
ROWS: list[Row] = [
    Row("s1", "S1 sequential chat (CPU/req)", "httpx", "httpx + json.loads (floor)",
        "cpu_us_per_req", "µs", None, "req_per_s", "req/s"),
    Row("s1", "S1 sequential chat (CPU/req)", "chutes-helper", "chutes chat.completions.create",
        "cpu_us_per_req", "µs", 1.10, "req_per_s", "req/s"),
    Row("s1", "S1 sequential chat (CPU/req)", "chutes-any-cord", 'chutes post("/any").json()',
        "cpu_us_per_req", "µs", 1.10, "req_per_s", "req/s"),
    Row("s1", "S1 sequential chat (CPU/req)", "openai", "openai chat.completions.create",
        "cpu_us_per_req", "µs", None, "req_per_s", "req/s"),
    Row("s2", "S2 stream (CPU/chunk)", "httpx-lines", "httpx iter_lines + json.loads (floor)",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    Row("s2", "S2 stream (CPU/chunk)", "httpx-sse", "httpx-sse + json.loads",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    # The libraries' own floors: what httpx-sse costs, and cattrs building the same typed
    # chunks with a converter that has no hooks (no checks, no null handling, no raw).
    Row("s2", "S2 stream (CPU/chunk)", "httpx-sse-cattrs", "httpx-sse + json.loads + plain cattrs",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    Row("s2", "S2 stream (CPU/chunk)", "chutes-typed", "chutes typed chunks",
        "cpu_us_per_chunk", "µs", 1.60, "chunks_per_s", "chunks/s"),
    Row("s2", "S2 stream (CPU/chunk)", "chutes-iter_text", "chutes iter_text()",
        "cpu_us_per_chunk", "µs", 1.40, "chunks_per_s", "chunks/s"),
    Row("s2", "S2 stream (CPU/chunk)", "openai", "openai stream",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    Row("s3", "S3 async (CPU, total)", "httpx", "httpx.AsyncClient (floor)",
        "cpu_ms", "ms", None, "req_per_s", "req/s"),
    Row("s3", "S3 async (CPU, total)", "chutes-helper", "chutes AsyncClient helper",
        "cpu_ms", "ms", 1.15, "req_per_s", "req/s"),
    Row("s3", "S3 async (CPU, total)", "chutes-any-cord", "chutes AsyncClient post(/any)",
        "cpu_ms", "ms", 1.15, "req_per_s", "req/s"),
    Row("s3", "S3 async (CPU, total)", "openai", "openai AsyncOpenAI",
        "cpu_ms", "ms", None, "req_per_s", "req/s"),
    Row("s3", "S3 async (peak RSS)", "httpx", "httpx.AsyncClient (floor)", "peak_rss_mb", "MB"),
    Row("s3", "S3 async (peak RSS)", "chutes-helper", "chutes AsyncClient helper",
        "peak_rss_mb", "MB", 1.15),
    Row("s3", "S3 async (peak RSS)", "chutes-any-cord", "chutes AsyncClient post(/any)",
        "peak_rss_mb", "MB", 1.15),
    Row("s3", "S3 async (peak RSS)", "openai", "openai AsyncOpenAI", "peak_rss_mb", "MB"),
    Row("s3", "S3 async (wall)", "httpx", "httpx.AsyncClient (floor)", "wall_ms", "ms"),
    Row("s3", "S3 async (wall)", "chutes-helper", "chutes AsyncClient helper", "wall_ms", "ms"),
    Row("s3", "S3 async (wall)", "chutes-any-cord", "chutes AsyncClient post(/any)",
        "wall_ms", "ms"),
    Row("s3", "S3 async (wall)", "openai", "openai AsyncOpenAI", "wall_ms", "ms"),
    Row("s4", "S4 cold import (process CPU)", "httpx", "import httpx (floor)", "cpu_ms", "ms",
        None, "wall_ms", "ms wall"),
    Row("s4", "S4 cold import (process CPU)", "chutes", "import chutes", "cpu_ms", "ms",
        1.30, "wall_ms", "ms wall"),
    # No target: the S4 is `import chutes`; this row shows what the client costs
    # once it is used (httpx included), for honesty about the lazy import.
    Row("s4", "S4 cold import (process CPU)", "chutes-loaded", "import chutes; chutes.Client",
        "cpu_ms", "ms", None, "wall_ms", "ms wall"),
    Row("s4", "S4 cold import (process CPU)", "openai", "import openai", "cpu_ms", "ms",
        None, "wall_ms", "ms wall"),
    Row("s4", "S4 cold import (process CPU)", "python", "python -c pass (reference)",
        "cpu_ms", "ms", None, "wall_ms", "ms wall"),
    Row("s4", "S4 import, net of bare interpreter", "httpx", "import httpx (floor)",
        "net_cpu_ms", "ms"),
    Row("s4", "S4 import, net of bare interpreter", "chutes", "import chutes",
        "net_cpu_ms", "ms"),
    Row("s4", "S4 import, net of bare interpreter", "chutes-loaded",
        "import chutes; chutes.Client", "net_cpu_ms", "ms"),
    Row("s4", "S4 import, net of bare interpreter", "openai", "import openai",
        "net_cpu_ms", "ms"),
    Row("s5", "S5 2 MB b64 image (CPU/call)", "httpx", "httpx + json.loads + b64decode (floor)",
        "cpu_ms_per_call", "ms", None, "calls_per_s", "calls/s"),
    Row("s5", "S5 2 MB b64 image (CPU/call)", "chutes", "chutes images.generate().bytes()",
        "cpu_ms_per_call", "ms", 1.10, "calls_per_s", "calls/s"),
    Row("s5", "S5 2 MB b64 image (CPU/call)", "openai", "openai images.generate + b64decode",
        "cpu_ms_per_call", "ms", None, "calls_per_s", "calls/s"),
    # Memory first: the smoke test reads each client's last row, which must be a ratio.
    Row("s6", "S6 batch peak RSS growth, small run to full run", "httpx-gather",
        "asyncio.gather + semaphore, raw httpx (floor)", "rss_growth_mb", "MB",
        None, "peak_rss_mb", "MB peak"),
    Row("s6", "S6 batch peak RSS growth, small run to full run", "chutes-gather",
        "asyncio.gather + semaphore, chutes AsyncClient", "rss_growth_mb", "MB", None,
        "peak_rss_mb", "MB peak"),
    Row("s6", "S6 batch peak RSS growth, small run to full run", "chutes-batch",
        "chutes AsyncClient batch.run", "rss_growth_mb", "MB", None, "peak_rss_mb", "MB peak"),
    Row("s6", "S6 batch peak RSS growth, small run to full run", "chutes-batch-sync",
        "chutes Client batch.run (threads)", "rss_growth_mb", "MB", None, "peak_rss_mb",
        "MB peak"),
    Row("s6", "S6 batch CPU (total)", "httpx-gather",
        "asyncio.gather + semaphore, raw httpx (floor)", "cpu_ms", "ms"),
    Row("s6", "S6 batch CPU (total)", "chutes-gather",
        "asyncio.gather + semaphore, chutes AsyncClient", "cpu_ms", "ms"),
    Row("s6", "S6 batch CPU (total)", "chutes-batch", "chutes AsyncClient batch.run",
        "cpu_ms", "ms"),
    Row("s6", "S6 batch CPU (total)", "chutes-batch-sync", "chutes Client batch.run (threads)",
        "cpu_ms", "ms"),
    Row("s6", "S6 batch (wall)", "httpx-gather", "asyncio.gather + semaphore, raw httpx (floor)",
        "wall_ms", "ms", None, "req_per_s", "req/s"),
    Row("s6", "S6 batch (wall)", "chutes-gather", "asyncio.gather + semaphore, chutes AsyncClient",
        "wall_ms", "ms", None, "req_per_s", "req/s"),
    Row("s6", "S6 batch (wall)", "chutes-batch", "chutes AsyncClient batch.run",
        "wall_ms", "ms", 1.15, "req_per_s", "req/s"),
    Row("s6", "S6 batch (wall)", "chutes-batch-sync", "chutes Client batch.run (threads)",
        "wall_ms", "ms", None, "req_per_s", "req/s"),
    # E2EE: the same call in the clear and encrypted (the server plays the instance); the
    # difference between the two rows is what end-to-end encryption costs the caller.
    Row("e2ee", "E2EE call (CPU/req)", "httpx", "httpx + json.loads, in the clear (floor)",
        "cpu_us_per_req", "µs", None, "req_per_s", "req/s"),
    Row("e2ee", "E2EE call (CPU/req)", "chutes-clear", "chutes chat.completions.create",
        "cpu_us_per_req", "µs", None, "req_per_s", "req/s"),
    Row("e2ee", "E2EE call (CPU/req)", "chutes-e2ee", "the same with e2ee=True",
        "cpu_us_per_req", "µs", None, "req_per_s", "req/s"),
    Row("e2ee-stream", "E2EE stream (CPU/chunk)", "httpx-lines",
        "httpx iter_lines + json.loads, in the clear (floor)", "cpu_us_per_chunk", "µs", None,
        "chunks_per_s", "chunks/s"),
    Row("e2ee-stream", "E2EE stream (CPU/chunk)", "chutes-clear", "chutes iter_text()",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    Row("e2ee-stream", "E2EE stream (CPU/chunk)", "chutes-e2ee", "the same with e2ee=True",
        "cpu_us_per_chunk", "µs", None, "chunks_per_s", "chunks/s"),
    Row("cold", "Cold start to first reply (wall)", "httpx", "httpx (floor)", "wall_ms", "ms",
        None, "cpu_ms", "ms CPU"),
    Row("cold", "Cold start to first reply (wall)", "chutes", "chutes helper", "wall_ms", "ms",
        None, "cpu_ms", "ms CPU"),
    Row("cold", "Cold start to first reply (wall)", "openai", "openai", "wall_ms", "ms",
        None, "cpu_ms", "ms CPU"),
]
# fmt: on


# --- processes ------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of every child: no proxies, no client settings, fixed hash seed."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and not k.startswith(("CHUTES_", "OPENAI_"))
        and k not in ("PYTHONPROFILEIMPORTTIME", "PYTHONTRACEMALLOC", "PYTHONDEVMODE")
    }
    env["PYTHONHASHSEED"] = "0"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class Server:
    """The benchmark server in its own process; always stopped by :meth:`stop`."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, cpu: int | None) -> int:
        # stdin is a pipe the server watches: if this runner dies, the server sees EOF.
        self.proc = subprocess.Popen(  # noqa: S603
            [PYTHON, str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
        )
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=60):
                raise RuntimeError("the benchmark server did not report its port within 60 s")
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the benchmark server failed to start: {line!r}")
        self.port = int(line.split()[1])
        return self.port

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_child(args: Sequence[str], *, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run ``clients.py`` with ``args`` in a fresh interpreter; return its RESULT."""
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, str(CLIENTS), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = err.decode(errors="replace")[-2000:]
        raise RuntimeError(f"child {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def time_import(statement: str, *, timeout: float = 120.0) -> dict[str, float]:
    """One fresh ``python -c statement``: its CPU (rusage of the waited child) and wall."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, "-c", statement],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - t0
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"python -c {statement!r} failed:\n{err.decode(errors='replace')}")
    return {"cpu_ms": cpu * 1e3, "wall_ms": wall * 1e3}


def time_cold_start(client: str, port: int, *, timeout: float = 120.0) -> dict[str, float]:
    """Spawn -> the child's READY line (printed after its first reply), and the child's CPU."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, str(CLIENTS), "cold", client, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        wall = time.perf_counter() - t0
        _, err = proc.communicate(timeout=timeout)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cpu = children_cpu() - cpu0
    if line.strip() != b"READY" or proc.returncode != 0:
        raise RuntimeError(f"cold start of {client} failed:\n{err.decode(errors='replace')}")
    return {"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3}


# --- the plan -------------------------------------------------------------------------


def median_of(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def run_scenario(
    scenario: str, client: str, port: int, counts: Counts, profile: str | None = None
) -> dict[str, Any]:
    """One measurement of one client (several spawns for S4 and cold start)."""
    common = ["--port", str(port)]
    if profile:
        common += ["--profile", profile]
    if scenario == "s1":
        args = ["--count", str(counts.s1_requests), "--warmup", str(counts.s1_warmup)]
        return run_child([scenario, client, *common, *args])
    if scenario == "s2":
        return run_child([scenario, client, *common, "--count", str(counts.s2_chunks)])
    if scenario == "s3":
        args = ["--count", str(counts.s3_requests), "--concurrency", str(counts.s3_concurrency)]
        return run_child([scenario, client, *common, *args])
    if scenario == "s5":
        args = ["--count", str(counts.s5_calls), "--warmup", str(counts.s5_warmup)]
        return run_child([scenario, client, *common, *args])
    if scenario == "s6":
        args = [
            *("--count", str(counts.s6_requests), "--warmup", str(counts.s6_small)),
            *("--concurrency", str(counts.s6_concurrency)),
        ]
        return run_child([scenario, client, *common, *args])
    if scenario == "e2ee":
        args = ["--count", str(counts.e2ee_requests), "--warmup", str(counts.s1_warmup)]
        return run_child([scenario, client, *common, *args])
    if scenario == "e2ee-stream":
        return run_child([scenario, client, *common, "--count", str(counts.e2ee_chunks)])
    if scenario == "cold":
        samples = [time_cold_start(client, port) for _ in range(counts.cold_repeats)]
        return {**median_of(samples), "samples": samples}
    raise ValueError(scenario)


def run_imports(clients: list[str], counts: Counts, round_no: int) -> dict[str, dict[str, Any]]:
    """S4: ``counts.s4_repeats`` spawns of each statement, interleaved; medians per client."""
    samples: dict[str, list[dict[str, float]]] = {c: [] for c in clients}
    for rep in range(counts.s4_repeats):
        shift = (round_no + rep) % len(clients)
        for client in clients[shift:] + clients[:shift]:
            samples[client].append(time_import(IMPORTS[client]))
    out: dict[str, dict[str, Any]] = {}
    for client, got in samples.items():
        out[client] = {**median_of(got), "samples": got}
    bare = out.get("python")
    for client, result in out.items():
        if bare is not None and client != "python":
            result["net_cpu_ms"] = result["cpu_ms"] - bare["cpu_ms"]
    return out


def plan_clients(scenario: str, with_openai: bool) -> list[str]:
    floor, others = PLAN[scenario]
    clients = [floor, *others]
    if not with_openai:
        clients = [c for c in clients if c != "openai"]
    return clients


def run_rounds(
    scenarios: list[str],
    counts: Counts,
    port: int,
    with_openai: bool,
    log: Callable[[str], None],
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """results[scenario][client] = one result per round, rounds interleaved."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {} for s in scenarios}
    for round_no in range(counts.rounds):
        started = time.perf_counter()
        for scenario in scenarios:
            clients = plan_clients(scenario, with_openai)
            if scenario == "s4":
                for client, result in run_imports(clients, counts, round_no).items():
                    results[scenario].setdefault(client, []).append(result)
                continue
            shift = round_no % len(clients)
            for client in clients[shift:] + clients[:shift]:
                result = run_scenario(scenario, client, port, counts)
                results[scenario].setdefault(client, []).append(result)
        log(f"round {round_no + 1}/{counts.rounds} done in {time.perf_counter() - started:.1f} s")
    return results


def summarise(
    results: dict[str, dict[str, list[dict[str, Any]]]], with_openai: bool
) -> list[Summary]:
    out: list[Summary] = []
    for row in ROWS:
        if row.scenario not in results or (row.client == "openai" and not with_openai):
            continue
        mine = results[row.scenario].get(row.client)
        floor = results[row.scenario].get(PLAN[row.scenario][0])
        if not mine or not floor or row.metric not in mine[0]:
            continue
        values = [r[row.metric] for r in mine]
        extra = [r[row.extra] for r in mine] if row.extra and row.extra in mine[0] else None
        ratios = (
            [m[row.metric] / f[row.metric] for m, f in zip(mine, floor, strict=True)]
            if row.metric in floor[0] and all(f[row.metric] > 0 for f in floor)
            else []
        )
        ratio = statistics.median(ratios) if ratios else None
        out.append(
            Summary(
                row=row,
                median=statistics.median(values),
                extra_median=statistics.median(extra) if extra else None,
                ratio=ratio,
                ratio_min=min(ratios) if ratios else None,
                ratio_max=max(ratios) if ratios else None,
                rounds=len(values),
                ok=(ratio <= row.target) if (ratio is not None and row.target) else None,
                samples=values,
            )
        )
    return out


# --- reporting ------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": PYTHON,
        "packages": versions,
        "git": git_revision(),
    }


def git_revision() -> str | None:
    try:
        head = subprocess.run(  # noqa: S603
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "chutes"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (" (chutes/ modified)" if dirty else "")


def _num(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(
    summaries: list[Summary], machine: dict[str, Any], config: dict[str, Any], load: list[float]
) -> str:
    lines = ["# chutes-client benchmarks", ""]
    pkgs = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    lines += [
        f"- Machine: {machine['platform']}; {machine['cpu_model']}; "
        f"{machine['cores']} cores ({machine['cores_usable']} usable); {machine['python']}",
        f"- Packages: {pkgs}",
        f"- Revision: {machine['git'] or 'unknown'}",
        f"- Config: {', '.join(f'{k}={v}' for k, v in config.items())}",
        f"- Load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}",
        "",
        "Median over rounds; ratio = client / floor measured in the same round "
        "(median, with min-max over rounds). Lower is better for every metric.",
        "",
        "| Scenario | Client | Median | Ratio to floor (min-max) | Target | Meets |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        row = s.row
        metric = f"{_num(s.median)} {row.unit}"
        if s.extra_median is not None:
            metric += f" ({_num(s.extra_median)} {row.extra_unit})"
        floor = row.client == PLAN[row.scenario][0]
        if floor:
            ratio = "1.00 (floor)"
        elif s.ratio is None:
            ratio = "-"
        else:
            assert s.ratio_min is not None
            assert s.ratio_max is not None
            ratio = f"{s.ratio:.2f} ({s.ratio_min:.2f}-{s.ratio_max:.2f})"
        target = f"<= {row.target:.2f}" if row.target else ""
        meets = "" if s.ok is None else ("yes" if s.ok else "**no**")
        lines.append(
            f"| {row.label} | {row.client_label} | {metric} | {ratio} | {target} | {meets} |"
        )
    lines += [
        "",
        "S1: CPU (user+sys) per request after warm-up; S2: CPU per content chunk of one "
        "stream; S3: CPU and wall for all requests, peak RSS of the whole child; S4: CPU of a "
        "fresh `python -c 'import X'` (net = minus `python -c pass`); S5: CPU per 2 MB base64 "
        "image decoded to bytes; cold start: spawn to first reply, wall.",
        "",
    ]
    return "\n".join(lines)


def run_profiles(port: int, counts: Counts, log: Callable[[str], None]) -> str:
    """cProfile of the chutes clients (top 15 functions by tottime) for S1, S2, S3 and S5."""
    jobs = [
        ("s1", "chutes-helper"),
        ("s1", "chutes-any-cord"),
        ("s1", "httpx"),
        ("s2", "chutes-typed"),
        ("s2", "chutes-iter_text"),
        ("s2", "httpx-lines"),
        ("s3", "chutes-helper"),
        ("s5", "chutes"),
    ]
    parts = []
    tmp = HERE / ".profile.tmp"
    try:
        for scenario, client in jobs:
            log(f"profiling {scenario} {client}")
            run_scenario(scenario, client, port, counts, profile=str(tmp))
            text = tmp.read_text(encoding="utf-8")
            parts.append(f"## {scenario} {client}\n\n{text}")
    finally:
        tmp.unlink(missing_ok=True)
    return "# cProfile, top 15 by tottime (measured part only)\n\n" + "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 3)")
    parser.add_argument(
        "--only",
        help=f"comma-separated scenarios out of {','.join(PLAN)} (default: all)",
    )
    parser.add_argument("--no-openai", action="store_true", help="skip the OpenAI SDK")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to the last CPU, the clients to the first",
    )
    parser.add_argument("--profile", action="store_true", help="print cProfile tables instead")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.* are written")
    args = parser.parse_args(argv)

    counts = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        counts = Counts(**{**asdict(counts), "rounds": args.rounds})
    scenarios = list(PLAN)
    if args.only:
        scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in scenarios if s not in PLAN]
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    with_openai = not args.no_openai and importlib.util.find_spec("openai") is not None

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    server_cpu = client_cpu = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cpus) < 2:
            parser.error("--pin needs at least two CPUs")
        server_cpu, client_cpu = cpus[-1], cpus[0]

    # SIGTERM unwinds through the finally below, so the server is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = Server()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        port = server.start(server_cpu)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})  # the children inherit it
        log(f"server on 127.0.0.1:{port}; openai {'on' if with_openai else 'off'}")
        if args.profile:
            report = run_profiles(port, counts, log)
            print(report)
            (args.out / "profile.md").write_text(report, encoding="utf-8")
            return 0
        results = run_rounds(scenarios, counts, port, with_openai, log)
    finally:
        server.stop()
    load = [load_before, os.getloadavg()[0]]
    summaries = summarise(results, with_openai)
    machine = machine_info()
    config = {
        **asdict(counts),
        "quick": args.quick,
        "openai": with_openai,
        "pinned": args.pin,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    table = render(summaries, machine, config, load)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    payload = {
        "machine": machine,
        "config": config,
        "load_average_1min": {"before": load[0], "after": load[1]},
        "summary": [
            {
                **asdict(s.row),
                "median": s.median,
                "extra_median": s.extra_median,
                "ratio": s.ratio,
                "ratio_min": s.ratio_min,
                "ratio_max": s.ratio_max,
                "meets_target": s.ok,
                "per_round": s.samples,
            }
            for s in summaries
        ],
        "rounds": results,
    }
    (args.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
