"""The benchmark suite (``benchmarks/``) itself: its arithmetic, and one small end-to-end run.

The run starts the benchmark server on 127.0.0.1 in its own process, measures every
client except the optional OpenAI SDK once with the smoke-run counts, and must stop the
server and write its table. The figures are not judged here (a timed test fails on a
noisy machine); that the suite measures, compares and reports is.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load("run")


def _rounds(values: list[float], metric: str) -> list[dict[str, Any]]:
    return [{metric: v} for v in values]


def test_ratios_are_taken_per_round_against_the_floor_of_that_round(run: ModuleType) -> None:
    metric = "cpu_us_per_req"
    results = {
        "s1": {
            "httpx": _rounds([100.0, 200.0, 100.0], metric),
            "chutes-helper": _rounds([110.0, 180.0, 120.0], metric),
            "chutes-any-cord": _rounds([115.0, 230.0, 110.0], metric),
            "openai": _rounds([300.0, 600.0, 300.0], metric),
        }
    }
    summaries = {s.row.client: s for s in run.summarise(results, with_openai=False)}
    assert "openai" not in summaries
    helper = summaries["chutes-helper"]
    assert helper.ratio == pytest.approx(1.1)  # the median of 1.1, 0.9 and 1.2
    assert (helper.ratio_min, helper.ratio_max) == (pytest.approx(0.9), pytest.approx(1.2))
    assert helper.median == 120.0
    assert helper.ok is True  # target 1.10
    assert summaries["chutes-any-cord"].ratio == pytest.approx(1.15)
    assert summaries["chutes-any-cord"].ok is False  # target 1.10
    assert summaries["httpx"].ratio == 1.0
    assert summaries["httpx"].ok is None  # the floor has no target


def test_a_smoke_run_measures_every_client_and_stops_its_server(tmp_path: Path) -> None:
    proc = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(BENCHMARKS / "run.py"),
            *("--quick", "--rounds", "1", "--no-openai", "--out", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "results.json").read_text())
    measured = {(row["scenario"], row["client"]): row for row in report["summary"]}
    run = _load("run")
    for scenario, (floor, others) in run.PLAN.items():
        for client in [floor, *others]:
            if client == "openai":
                continue
            row = measured[(scenario, client)]
            assert row["median"] > 0
            assert row["ratio"] is not None
            assert row["ratio"] > 0
        assert measured[(scenario, floor)]["ratio"] == 1.0
    assert not any(client == "openai" for _, client in measured)
    table = (tmp_path / "results.md").read_text()
    assert "| S2 stream (CPU/chunk) | chutes typed chunks |" in table
    assert "<= 1.40" in table
    # The server the run started is gone: its port no longer answers.
    found = re.search(r"server on 127\.0\.0\.1:(\d+)", proc.stderr)
    assert found is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(found[1])), 2):
        pass
