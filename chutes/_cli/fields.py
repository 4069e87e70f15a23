"""Body fields typed on the command line, as HTTPie (and fal's and Replicate's CLIs) take
them: ``key=value`` is the string ``value``; ``key:=json`` is the JSON value ``json``
(``n:=2``, ``stream:=true``, ``tags:='["a", "b"]'``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

from .._core.errors import ConfigurationError

__all__: list[str] = []

# What a field looks like before it is parsed: a name, then '=' or ':='.
FIELD: Final = re.compile(r"^[^\s=:-][^=]*=")


def parse_field(text: str, option: str) -> tuple[str, Any]:
    """One field: ``(name, value)``.

    Raises:
        ConfigurationError: for text that is neither form, or ``key:=`` not followed by
            valid JSON; the message names the field (never its value, which may be private).
    """
    name, sep, value = text.partition("=")
    typed = name.endswith(":")
    name = name.removesuffix(":")
    if not sep or not name.strip():
        raise ConfigurationError(
            f"{option} {text.split('=')[0]!r}: expected key=value (a string) or key:=json "
            "(a JSON value)"
        )
    if not typed:
        return name, value
    try:
        return name, json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ConfigurationError(
            f"{option} {name}:=...: the value is not valid JSON ({type(exc).__name__}); "
            f"use {name}=... for a string"
        ) from None


def parse_fields(texts: Iterable[str], option: str) -> dict[str, Any]:
    """Every field, in order (a name given twice keeps its last value).

    Raises:
        ConfigurationError: naming the first field that is not valid.
    """
    return dict(parse_field(text, option) for text in texts)
