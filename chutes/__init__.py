"""chutes-client: call chutes (AI apps on chutes.ai) from notebooks, web backends and scripts.

``chutes.Client`` blocks and never touches asyncio; ``chutes.AsyncClient`` is its asyncio
twin. Both address chutes by name, slug, id or URL, retry what is safe to retry, raise the
typed errors of ``chutes.ChutesError``, and offer OpenAI-compatible helpers on every chute.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._async.batch import *
    from ._async.client import *
    from ._async.images import *
    from ._async.platform import *
    from ._async.resources import *
    from ._async.streams import *
    from ._core.batch import *
    from ._core.config import *
    from ._core.errors import *
    from ._core.events import *
    from ._core.models import *
    from ._core.platform import *
    from ._core.ratelimit import *
    from ._core.targets import *
    from ._core.usage import *
    from ._response import *
    from ._sync.batch import *
    from ._sync.client import *
    from ._sync.images import *
    from ._sync.platform import *
    from ._sync.resources import *
    from ._sync.streams import *

# The modules that define the public names. Each lists its own in `__all__`, the one list
# of them; `chutes.X` imports these in order (the cheap core first, httpx last) until one
# defines X, so `import chutes` itself loads nothing more.
_MODULES = (
    "._core.errors",
    "._core.config",
    "._core.ratelimit",
    "._core.targets",
    "._core.models",
    "._core.platform",
    "._core.usage",
    "._core.events",
    "._core.batch",
    "._response",
    "._sync.client",
    "._sync.resources",
    "._sync.streams",
    "._sync.images",
    "._sync.platform",
    "._sync.batch",
    "._async.client",
    "._async.resources",
    "._async.streams",
    "._async.images",
    "._async.platform",
    "._async.batch",
)


def _public() -> list[str]:
    """Every public name, sorted as isort sorts them: constants, classes, the rest."""
    names = {"__version__"}
    for module in _MODULES:
        names.update(importlib.import_module(module, __name__).__all__)
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))


def __getattr__(name: str) -> Any:
    if name == "__all__":
        value: Any = _public()
    else:
        for module in _MODULES:
            found = importlib.import_module(module, __name__)
            if name in found.__all__:
                value = getattr(found, name)
                break
        else:
            raise AttributeError(f"module 'chutes' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public()))
