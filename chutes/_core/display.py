"""How values are shown to people: tables, dollar amounts, a cord's body fields.

Rule: pure text in, text out; no I/O. The command line prints these as plain text and
the notebook representations (``_repr_markdown_``) as Markdown, so a value looks the same in
a terminal and in Jupyter.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

__all__: list[str] = []

# How deep a property's type is described (``array of array of ...``) before it is cut.
_MAX_TYPE_DEPTH: Final = 4
_MAX_ENUM: Final = 6
_MAX_DEFAULT: Final = 40


class BodyField(NamedTuple):
    """One field of a request body, as its JSON schema describes it."""

    name: str
    type: str
    required: bool
    default: str | None  # the default as JSON text, when the schema gives one

    def text(self) -> str:
        """``name: type (required)`` or ``name: type = default``."""
        shown = f"{self.name}: {self.type}"
        if self.required:
            return f"{shown} (required)"
        return shown if self.default is None else f"{shown} = {self.default}"


def body_fields(schema: Mapping[str, Any] | None) -> list[BodyField]:
    """The top-level fields of a flat body schema (a cord's ``body_schema``), in order.

    Args:
        schema: the flat JSON schema, or ``None`` when the platform sent none.

    Returns:
        One :class:`BodyField` per property; empty for no schema or no properties.
    """
    if not isinstance(schema, Mapping):
        return []
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    fields = []
    for name, prop in properties.items():
        default = None
        if isinstance(prop, Mapping) and "default" in prop:
            default = _short(json.dumps(prop["default"], default=str), _MAX_DEFAULT)
        fields.append(BodyField(str(name), type_text(prop), name in needed, default))
    return fields


def type_text(prop: Any, depth: int = 0) -> str:
    """A JSON schema property's type in a few words: ``string``, ``array of integer``,
    ``string | null``, ``"a" | "b"`` for an enum, the model's name for an unresolved
    ``$ref``, ``any`` when the schema does not say."""
    if depth > _MAX_TYPE_DEPTH:
        return "..."
    if not isinstance(prop, Mapping):
        return "any"
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        shown = [json.dumps(v, default=str) for v in enum[:_MAX_ENUM]]
        return " | ".join(shown + (["..."] if len(enum) > _MAX_ENUM else []))
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items")
        return f"array of {type_text(items, depth + 1)}" if items else "array"
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    for key in ("anyOf", "oneOf"):
        options = prop.get(key)
        if isinstance(options, list) and options:
            return " | ".join(type_text(o, depth + 1) for o in options)
    ref = prop.get("$ref")
    if isinstance(ref, str):
        return ref.rpartition("/")[2] or ref
    return "object" if "properties" in prop else "any"


def usd(value: float) -> str:
    """A dollar amount: cents from a cent up, else up to six decimals (a token's price,
    a small batch's spend), never in exponent notation."""
    if abs(value) >= 0.01 or value == 0:
        return f"${value:,.2f}"
    small = f"{abs(value):.6f}".rstrip("0")
    sign = "-" if value < 0 else ""
    return f"{sign}${small}" if small != "0." else f"{sign}<$0.000001"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell(value: object) -> str:
    return " ".join(str(value).split())


def text_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as aligned plain-text columns under upper-case headers (no trailing spaces)."""
    lines = [[h.upper() for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def markdown_cell(value: object) -> str:
    """Text safe in a Markdown table cell: on one line, HTML escaped, ``|`` escaped."""
    return html.escape(_cell(value), quote=False).replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as a Markdown table, every cell escaped (:func:`markdown_cell`)."""
    lines = [
        "| " + " | ".join(markdown_cell(h) for h in headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
