# Generated from chutes/_async/__init__.py by scripts/unasync.py: do not edit.
"""The blocking facades, generated from ``chutes/_async/``."""
