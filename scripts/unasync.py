"""Generate the blocking code under ``chutes/_sync/`` from its asyncio source ``chutes/_async/``.

The asyncio files are the one source of the facades; this script writes their blocking
twins with a few word substitutions (httpcore's approach): ``async def`` -> ``def``,
``await x`` -> ``x``, ``AsyncClient`` -> ``Client``, ``__aenter__`` -> ``__enter__``, and
so on. What truly differs between the two lives in ``chutes/_runtime.py``, written by hand.

    python scripts/unasync.py            # write chutes/_sync/
    python scripts/unasync.py --check    # fail (exit 1) if a generated file is stale or edited
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [(ROOT / "chutes" / "_async", ROOT / "chutes" / "_sync")]

# Applied in order, each to every line of the source.
SUBSTITUTIONS = [
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAwaitable\[([^\[\]]*)\]", r"\1"),
    (r"\bAsyncByteStream\b", "SyncByteStream"),
    (r"\bAnyIOBackend\b", "SyncBackend"),
    (r"\bhandle_async_request\b", "handle_request"),
    (r"\b(_?)Async([A-Z]\w*)", r"\1\2"),
    (r"\._async\b", "._sync"),
    (r"\basync_(\w+)", r"\1"),
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\baclose_(\w+)", r"close_\1"),
    (r"\baread\b", "read"),
    (r"\baiter_(\w+)", r"iter_\1"),
    (r"\baraw_chunks\b", "raw_chunks"),
    (r"\banext\(", "next("),
]
COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBSTITUTIONS]


def header(source: Path) -> str:
    """The line every generated file starts with."""
    relative = source.relative_to(ROOT).as_posix()
    return f"# Generated from {relative} by scripts/unasync.py: do not edit.\n"


_FROM_IMPORT = re.compile(r"^(\s*from \S+ import )([\w, ]+)$")


def unasync_text(text: str) -> str:
    """The blocking twin of asyncio source ``text``."""
    lines = []
    for line in text.splitlines(keepends=True):
        for pattern, replacement in COMPILED:
            line = pattern.sub(replacement, line)
        lines.append(line)
    return _drop_unused_imports("".join(lines))


def _drop_unused_imports(text: str) -> str:
    """Leave out of one-line ``from x import a, b`` imports the names a substitution made
    unused (``Awaitable[bytes]`` became ``bytes``)."""
    out = []
    for line in text.splitlines(keepends=True):
        found = _FROM_IMPORT.match(line.rstrip("\n"))
        if found and "__future__" not in line:
            names = [n.strip() for n in found.group(2).split(",") if n.strip()]
            rest = text.replace(line, "")
            used = [n for n in names if re.search(rf"\b{re.escape(n.split()[-1])}\b", rest)]
            if not used:
                continue
            line = found.group(1) + ", ".join(used) + "\n"
        out.append(line)
    return "".join(out)


INIT_DOC = '"""The blocking facades, generated from ``chutes/_async/``."""\n'


def generated(source: Path) -> str:
    """The full text of the file generated from ``source``."""
    if source.name == "__init__.py":
        return header(source) + INIT_DOC
    return header(source) + unasync_text(source.read_text(encoding="utf-8"))


def outputs() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    made = {}
    for source_dir, target_dir in PAIRS:
        for source in sorted(source_dir.glob("*.py")):
            made[target_dir / source.name] = generated(source)
    return made


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with ``--check`` report those that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a file is not up to date")
    args = parser.parse_args(argv)
    made = outputs()
    stale = []
    for target, text in made.items():
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target)
        if args.check:
            diff = difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{target.relative_to(ROOT)} (committed)",
                tofile=f"{target.relative_to(ROOT)} (generated)",
            )
            sys.stdout.writelines(diff)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for _, target_dir in PAIRS:
        extra = set(target_dir.glob("*.py")) - set(made)
        for path in sorted(extra):
            stale.append(path)
            if not args.check:
                path.unlink()
    if args.check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of date (run python scripts/unasync.py): {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
