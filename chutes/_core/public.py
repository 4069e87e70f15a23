"""Public names report the package they are imported from.

Rule: a class the package exports says ``chutes`` as its module, so tracebacks, reprs and
pickles name ``chutes.ConfigurationError``, not the private module that defines it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

__all__: list[str] = []


def export(names: Iterable[str], namespace: Mapping[str, object]) -> None:
    """Set ``__module__ = "chutes"`` on every class among ``names`` in ``namespace``.

    An attrs class's field types are resolved first, while its annotations can still be
    read in the module that wrote them (the ``chutes`` namespace does not hold their names).
    """
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type):
            if attrs.has(obj):
                attrs.resolve_types(obj)
            obj.__module__ = "chutes"
