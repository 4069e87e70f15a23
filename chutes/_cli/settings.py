"""The settings a command runs with, and where each came from.

A setting comes from its command-line option, else its environment variable, else the
library's default: the same order ``chutes.Client`` itself follows, told here so that
``doctor`` can say which one is in effect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import attrs

from .._core.config import (
    DEFAULT_API_URL,
    DEFAULT_DOMAIN,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_API_URL,
    ENV_LLM_URL,
    ENV_LOG,
)

__all__: list[str] = []

# Keys look like cpk_<32 hex>.<32 hex>.<32 letters or digits> (PLATFORM.md).
_KEY_PARTS: Final = (
    (re.compile(r"cpk_[0-9a-f]{32}"), "its first part is not 'cpk_' and 32 hex digits"),
    (re.compile(r"[0-9a-f]{32}"), "its second part is not 32 hex digits"),
    (re.compile(r"[A-Za-z0-9]{32}"), "its third part is not 32 letters or digits"),
)


@attrs.frozen
class GlobalOptions:
    """The options every command takes (``None``: not given on the command line)."""

    api_key: str | None = None
    api_url: str | None = None
    llm_url: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    verbose: bool = False


@attrs.frozen
class Setting:
    """One setting in effect: its name, its value as shown, and where it came from."""

    name: str
    value: str
    source: str


def _source(option: str, given: object, env: Mapping[str, str], variable: str | None) -> str:
    if given is not None:
        return f"argument {option}"
    if variable is not None and env.get(variable):
        return f"environment {variable}"
    return "default"


def key_source(options: GlobalOptions, env: Mapping[str, str]) -> str | None:
    """Where the API key comes from (``--api-key`` or ``CHUTES_API_KEY``), or ``None``."""
    if options.api_key is not None:
        return "--api-key"
    return ENV_API_KEY if env.get(ENV_API_KEY) else None


def key_problem(key: str) -> str | None:
    """What is wrong with the shape of ``key``, in words that never show it; ``None`` when
    it looks like a chutes key."""
    parts = key.split(".")
    if len(parts) != len(_KEY_PARTS):
        return f"it has {len(parts)} dot-separated parts, not 3"
    for part, (pattern, problem) in zip(parts, _KEY_PARTS, strict=True):
        if not pattern.fullmatch(part):
            return problem
    return None


def settings(options: GlobalOptions, env: Mapping[str, str]) -> list[Setting]:
    """The settings in effect other than the key, each with its source."""
    api_url = options.api_url or env.get(ENV_API_URL) or DEFAULT_API_URL
    llm_url = options.llm_url or env.get(ENV_LLM_URL) or f"https://llm.{DEFAULT_DOMAIN}"
    if options.timeout is None:
        t = DEFAULT_TIMEOUT
        timeout = (
            f"connect {t.connect:g} s, read {t.read:g} s, write {t.write:g} s, pool {t.pool:g} s"
        )
    else:
        timeout = f"{options.timeout:g} s for each phase"
    retries = DEFAULT_MAX_RETRIES if options.max_retries is None else options.max_retries
    return [
        Setting("API URL", api_url, _source("--api-url", options.api_url, env, ENV_API_URL)),
        Setting("gateway URL", llm_url, _source("--llm-url", options.llm_url, env, ENV_LLM_URL)),
        Setting("timeout", timeout, _source("--timeout", options.timeout, env, None)),
        Setting(
            "max retries", str(retries), _source("--max-retries", options.max_retries, env, None)
        ),
        Setting("log level", env.get(ENV_LOG) or "off", _source("", None, env, ENV_LOG)),
    ]
