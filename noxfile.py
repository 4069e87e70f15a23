"""Developer sessions: ``nox -s lint typecheck tests``, ``nox -s unasync``, ``nox -s bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "unasync"]
nox.options.reuse_existing_virtualenvs = True
# Only the interpreters present are used; a missing one is skipped, never a failure.
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage."""
    session.install("-e", ".[tests]")
    session.run("pytest", "--cov=chutes", "--cov-report=term", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over chutes/ and examples/."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def unasync(session: nox.Session) -> None:
    """Regenerate chutes/_sync/ from chutes/_async/; ``-- --check`` fails if it is stale."""
    session.run("python", "scripts/unasync.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx (see benchmarks/README.md); ``-- --quick`` for a smoke run."""
    session.install("-e", ".[e2ee]")
    # Optional comparison: if the OpenAI SDK does not install, the runner skips it.
    session.install("openai", success_codes=[0, 1])
    session.run("python", "benchmarks/run.py", *session.posargs)
