"""PNGs far larger in pixels than in bytes, the shape of a decompression bomb.

Built row by row rather than with Pillow: Pillow would hold the whole raster in memory first
(400 MB for a 20000x20000 one), which is the very cost these files exist to provoke.
"""

from __future__ import annotations

import base64
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit greyscale PNG; a 12000x12000 one is about 20 kB."""
    row = b"\0" + bytes((width + 7) // 8)  # filter "none", then the row's packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def data_url(png: bytes) -> str:
    """As the phone's signature pad sends it."""
    return "data:image/png;base64," + base64.b64encode(png).decode()
