"""The facades' one source, asyncio; ``scripts/unasync.py`` writes ``chutes/_sync/`` from it."""
