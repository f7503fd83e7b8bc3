"""Hostile image files, made in memory: tiny on disk, huge or poisonous once decoded.

The outside test of issue #15 found them: elongated PNGs that get past the 40-megapixel guard through the
aspect ratio (a 114-byte 10000x1 PNG took 2.3 GB in preprocessing; a 39 KB 40,000,000x1 PNG raised
OverflowError), PNGs whose compressed text chunks decompress beyond PIL's limits, and float TIFFs with NaN or
infinite pixels (once classified as black). Tests and ``bench/hostile_requests.py`` use the same files.

The PNGs are written chunk by chunk with :mod:`zlib` (never through PIL), so making a 40-megapixel one costs
a few MB of memory, not the image.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNK_LIMIT = 1 << 20
"""PIL's ``PngImagePlugin.MAX_TEXT_CHUNK`` (1 MB, ``ImageFile.SAFEBLOCK``): a text chunk beyond it is refused."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _zeros_deflated(total: int, block: int = 1 << 20) -> bytes:
    """``total`` zero bytes, deflated without ever holding more than ``block`` of them."""
    comp = zlib.compressobj(9)
    zeros = bytes(block)
    parts = [comp.compress(zeros) for _ in range(total // block)]
    parts.append(comp.compress(bytes(total % block)))
    return b"".join(parts) + comp.flush()


def png(width: int, height: int, *, before_idat: tuple[bytes, ...] = (), after_idat: tuple[bytes, ...] = ()) -> bytes:
    """A black 8-bit greyscale PNG of ``width`` x ``height`` with extra (already framed) chunks around IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, deflate, no filter, no interlace
    pixels = _zeros_deflated((width + 1) * height)  # each row: filter byte 0, then `width` zero pixels
    return b"".join(
        [
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            *before_idat,
            _chunk(b"IDAT", pixels),
            *after_idat,
            _chunk(b"IEND", b""),
        ]
    )


def text_bomb(kind: str = "zTXt", decompressed: int = 4 * _TEXT_CHUNK_LIMIT) -> bytes:
    """One compressed chunk (``zTXt``, ``iTXt`` or ``iCCP``) that inflates to ``decompressed`` bytes."""
    body = _zeros_deflated(decompressed)
    if kind == "zTXt":
        return _chunk(b"zTXt", b"Comment\0\0" + body)  # keyword, NUL, method 0
    if kind == "iTXt":
        return _chunk(b"iTXt", b"Comment\0\1\0\0\0" + body)  # keyword, NUL, compressed, method 0, lang, NUL, key, NUL
    if kind == "iCCP":
        return _chunk(b"iCCP", b"icc\0\0" + body)  # profile name, NUL, method 0
    raise ValueError(f"unknown chunk kind {kind!r}; known: zTXt, iTXt, iCCP")


def text_flood(chunks: int = 80, each: int = _TEXT_CHUNK_LIMIT - 1024) -> tuple[bytes, ...]:
    """Many zTXt chunks, each under PIL's per-chunk limit, together beyond its 64 MB text budget."""
    body = _zeros_deflated(each)
    return tuple(_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + body) for i in range(chunks))


def float_tiff(*special: float, size: tuple[int, int] = (32, 32)) -> bytes:
    """A float32 greyscale TIFF (PIL mode "F") of a grey gradient, with ``special`` values (NaN, inf) in its first
    pixels: what scientific software writes for missing data."""
    w, h = size
    a = np.linspace(0.0, 1.0, w * h, dtype=np.float32).reshape(h, w)
    a.flat[: len(special)] = special
    buf = io.BytesIO()
    Image.fromarray(a, mode="F").save(buf, "TIFF")
    return buf.getvalue()


@dataclass(frozen=True)
class Hostile:
    """One hostile file: its name, how to make it, and what the reader must answer (a regex of the one line)."""

    name: str
    make: Callable[[], bytes]
    refusal: str | None
    """A regex of the expected one-line refusal, or None where the image must be read (bounded)."""
    suffix: str = ".png"


CASES: tuple[Hostile, ...] = (
    Hostile("wide_10000x1", lambda: png(10_000, 1), r"aspect ratio"),
    Hostile("tall_1x10000", lambda: png(1, 10_000), r"aspect ratio"),
    Hostile("wide_100000x1", lambda: png(100_000, 1), r"aspect ratio"),
    Hostile("wide_40000000x1", lambda: png(40_000_000, 1), r"aspect ratio"),
    Hostile("wide_1000x1", lambda: png(1000, 1), None),  # exactly the aspect bound: read, resized in a window
    Hostile("tall_2x2000", lambda: png(2, 2000), None),
    Hostile("wide_200000x200", lambda: png(200_000, 200), None),  # 40 MP, aspect 1000: the largest allowed
    Hostile("ztxt_bomb", lambda: png(8, 8, before_idat=(text_bomb("zTXt"),)), r"chunk"),
    Hostile("itxt_bomb", lambda: png(8, 8, before_idat=(text_bomb("iTXt"),)), r"chunk"),
    Hostile("iccp_bomb", lambda: png(8, 8, before_idat=(text_bomb("iCCP"),)), r"chunk"),
    Hostile("ztxt_bomb_after_idat", lambda: png(8, 8, after_idat=(text_bomb("zTXt"),)), r"chunk"),
    Hostile("ztxt_flood", lambda: png(8, 8, before_idat=text_flood()), r"chunk"),
    Hostile("float_nan", lambda: float_tiff(float("nan")), r"NaN or infinite", ".tiff"),
    Hostile("float_inf", lambda: float_tiff(float("inf")), r"NaN or infinite", ".tiff"),
    Hostile("float_minus_inf", lambda: float_tiff(float("-inf")), r"NaN or infinite", ".tiff"),
)
"""Every hostile file, by name: the tests run each through the engine, the CLI and the app."""


def case(name: str) -> Hostile:
    match = next((c for c in CASES if c.name == name), None)
    if match is None:
        raise KeyError(f"no hostile case {name!r}; known: {', '.join(c.name for c in CASES)}")
    return match


__all__ = ["CASES", "Hostile", "case", "float_tiff", "png", "text_bomb", "text_flood"]
