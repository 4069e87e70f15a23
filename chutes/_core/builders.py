"""Generated builders: the common case of decoding a response model, without cattrs' layers.

Rule: a builder only ever takes the path cattrs would take on well-formed JSON, and gives
up (raises :class:`Slow`) on anything else, so the converter's hook can run cattrs on the
same data and give exactly cattrs' result or cattrs' error. It never decides anything
cattrs would decide differently; a test compares both on generated payloads.

Why it exists: one stream chunk is three frozen attrs objects. Through cattrs, each field
goes through a hook call (and each object through ``__init__``'s name-based
``object.__setattr__``); that is most of a chunk's cost. A builder is one function per
class, generated once, that checks types inline and fills the slots with plain attribute
stores (see :func:`_twin`). cattrs still dispatches to it: it runs inside the converter's
hook for the class.
"""

from __future__ import annotations

import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Builder", "Builders", "Slow"]

Builder = Callable[[Mapping[str, Any]], Any]


class Slow(Exception):
    """The data is not the common case: let cattrs decide (and explain)."""


_SLOW: Any = Slow()  # one instance: raising it is the rare path, and needs no message


def _optional_of(tp: Any) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``), else ``None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _buildable(cls: type) -> bool:
    """Whether a builder gives exactly what ``cls(...)`` gives: slots, and no code run on
    construction (no validators, converters, post-init hooks or self-taking factories)."""
    if not (attrs.has(cls) and "__slots__" in cls.__dict__):
        return False
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return False
    names = {a.name for a in attrs.fields(cls)}
    slots = {
        slot
        for klass in cls.__mro__
        for slot in getattr(klass, "__slots__", ())
        if slot not in ("__weakref__", "__dict__")
    }
    if slots != names:
        return False  # a slot that is no field (a cached hash, say) would be left unset
    for a in attrs.fields(cls):
        if a.validator is not None or a.converter is not None:
            return False
        if isinstance(a.default, attrs.Factory) and a.default.takes_self:  # type: ignore[arg-type]
            return False
        if not isinstance(getattr(cls, a.name, None), types.MemberDescriptorType):
            return False
    return True


class Builders:
    """The builder of each class, generated on first request and kept.

    Args:
        hook: the converter's structure hook for a type that is not an attrs class
            (``list[float] | str``, say), used as is.
        renames: attribute -> wire name, per class.
        aliases: another wire name -> attribute, per class (used when the field is absent
            or null, as the converter does).
    """

    def __init__(
        self,
        hook: Callable[[Any], Callable[[Any, Any], Any]],
        *,
        renames: Mapping[type, Mapping[str, str]],
        aliases: Mapping[type, Mapping[str, str]],
    ) -> None:
        self._hook = hook
        self._renames = renames
        self._aliases = aliases
        self._made: dict[type, Builder | None] = {}
        self._lock = threading.RLock()

    def __call__(self, cls: type) -> Builder | None:
        """The builder for ``cls``; ``None`` for a class a builder cannot reproduce exactly,
        and for a class whose fields reach such a class."""
        # One thread generates at a time: another would see the placeholder below and keep
        # cattrs for that class for good. Reentrant, as a class's fields reach other classes.
        with self._lock:
            if cls in self._made:
                return self._made[cls]
            self._made[cls] = None  # while generating: a class that reaches itself gets none
            made = None
            if _buildable(cls):
                made = _generate(
                    cls, self, self._hook, self._renames.get(cls, {}), self._aliases.get(cls, {})
                )
            self._made[cls] = made
            return made


def _twin(cls: type) -> type | None:
    """A subclass of ``cls`` with the same slots and plain attribute setting.

    A builder fills a twin with ordinary attribute stores (which CPython makes fast for
    slots, unlike the frozen class's ``object.__setattr__`` by name), then makes the object
    a ``cls`` by assigning ``__class__``, which CPython allows between two classes with the
    same layout. What a caller gets is a ``cls`` like any other, frozen again.
    """
    twin = type(
        f"_Building{cls.__name__}",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


def _generate(
    cls: type,
    build: Callable[[type], Builder | None],
    hook: Callable[[Any], Callable[[Any, Any], Any]],
    renames: Mapping[str, str],
    aliases: Mapping[str, str],
) -> Builder | None:
    try:
        hints = typing.get_type_hints(cls)
    except NameError:
        return None  # an annotation that names nothing importable: cattrs will say so
    alias_of: dict[str, list[str]] = {}
    for alias, field in aliases.items():
        alias_of.setdefault(field, []).append(alias)
    twin = _twin(cls)
    if twin is None:
        return None
    names: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_twin": twin, "_SLOW": _SLOW}
    lines = [f"def build_{cls.__name__}(d):", "    o = _new(_twin)"]
    for a in attrs.fields(cls):
        setter = f"o.{a.name} ="
        default = a.default
        if default is attrs.NOTHING:
            fallback = "raise _SLOW"
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            names[f"_factory_{a.name}"] = default.factory
            fallback = f"v = _factory_{a.name}()"
        else:
            names[f"_default_{a.name}"] = default
            fallback = f"v = _default_{a.name}"
        if a.name.startswith("_") or not a.init:
            # Not read from JSON: the converter omits private fields.
            lines += [f"    {fallback}", f"    {setter} v"]
            continue
        if a.name == "raw":
            lines.append(f"    {setter} d")
            continue
        tp = hints[a.name]
        inner = _optional_of(tp)
        optional = inner is not None or tp is Any
        wires = [renames.get(a.name, a.name), *alias_of.get(a.name, [])]
        made = _convert(inner if inner is not None else tp, a.name, names, build, hook)
        if made is None:
            return None
        kind, convert = made
        if kind is None and not convert and optional and default is None and len(wires) == 1:
            lines.append(f"    {setter} d.get({wires[0]!r})")  # Any: taken as it is
            continue
        lines.append(f"    v = d.get({wires[0]!r})")
        for alias in wires[1:]:
            lines += ["    if v is None:", f"        v = d.get({alias!r})"]
        check = [f"if type(v) is not {kind}:", "    raise _SLOW"] if kind else []
        if optional and default is None:
            # Absent and null both mean None, the default.
            if check or convert:
                lines.append("    if v is not None:")
                lines += [f"        {line}" for line in check + convert]
        else:
            # null where the field cannot take it: the converter's cleaning decides.
            present = " or ".join(f"{w!r} in d" for w in wires)
            if kind:
                # The common case first: one exact type check when the value is there.
                missing = [f"if v is not None or {present}:", "    raise _SLOW", fallback]
                if convert:
                    lines += [f"    if type(v) is {kind}:"]
                    lines += [f"        {line}" for line in convert]
                    lines += ["    else:"]
                else:
                    lines += [f"    if type(v) is not {kind}:"]
                lines += [f"        {line}" for line in missing]
            else:
                lines += ["    if v is None:", f"        if {present}:", "            raise _SLOW"]
                lines += [f"        {fallback}"]
                if convert:
                    lines.append("    else:")
                    lines += [f"        {line}" for line in convert]
        lines.append(f"    {setter} v")
    lines += ["    o.__class__ = _cls", "    return o"]
    source = "\n".join(lines)
    exec(source, names)  # noqa: S102 - source built above from field names only
    built: Builder = names[f"build_{cls.__name__}"]
    built.source = source  # type: ignore[attr-defined]  # for debugging and the tests
    return built


def _convert(
    tp: Any,
    name: str,
    names: dict[str, Any],
    build: Callable[[type], Builder | None],
    hook: Callable[[Any], Callable[[Any, Any], Any]],
) -> tuple[str | None, list[str]] | None:
    """How a non-null ``v`` of type ``tp`` is checked and converted: the exact JSON type it
    must have (if there is one) and the lines that convert it; ``None``: no builder."""
    if tp is Any:
        return None, []
    if tp is str or tp is int:
        # Exactly what JSON gives; anything else (a float for an int, say) goes to cattrs.
        return tp.__name__, []
    if tp is float:
        return None, ["if type(v) is not float:", "    if type(v) is not int:",
                      "        raise _SLOW", "    v = float(v)"]  # fmt: skip
    if attrs.has(tp):
        sub = build(tp)
        if sub is None:
            return None
        names[f"_build_{name}"] = sub
        return "dict", [f"v = _build_{name}(v)"]
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if attrs.has(item):
            sub = build(item)
            if sub is None:
                return None
            names[f"_build_{name}"] = sub
            # An item that is not exactly a dict goes to cattrs. One item is the common case
            # (one choice), and skips the comprehension's frame.
            return "list", ["if len(v) == 1:", "    e = v[0]",
                            "    if type(e) is not dict:", "        raise _SLOW",
                            f"    v = [_build_{name}(e)]",
                            "else:", "    for e in v:",
                            "        if type(e) is not dict:", "            raise _SLOW",
                            f"    v = [_build_{name}(e) for e in v]"]  # fmt: skip
    names[f"_hook_{name}"] = hook(tp)
    names[f"_type_{name}"] = tp
    return None, [f"v = _hook_{name}(v, _type_{name})"]
