# PYTHON_ARGCOMPLETE_OK
"""The command line: ``chutes-client`` (and ``python -m chutes``), on a blocking client.

Subcommands ``chat``, ``call``, ``models``, ``chute show``, ``warmup``, ``whoami``,
``quota``, ``usage``, ``batch run`` and ``doctor``; ``chutes-client --help`` lists them.
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
