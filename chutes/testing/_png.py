"""A minimal PNG writer (zlib only), so the fake serves real, decodable images."""

from __future__ import annotations

import struct
import zlib

__all__ = ["make_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG of ``width`` x ``height`` with a gradient that depends on ``seed``."""
    if not (0 < width <= 4096 and 0 < height <= 4096):
        raise ValueError("width and height must be between 1 and 4096")
    tint = seed % 256
    rows = []
    for y in range(height):
        shade = y * 255 // max(1, height - 1)
        # Filter byte 0 (None) then one colour per row: cheap to build, still a real image.
        rows.append(b"\x00" + bytes((shade, (shade + tint) % 256, tint)) * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )
