"""Example images as small grey-scale PNGs in ``data:`` URIs, written with the standard library.

The confusion-matrix view shows a cell's misclassified images as ``<img>`` elements; the URIs are
computed once per artifact (:func:`image_uris`) and shipped to the browser with the figure, so
moving across cells needs no server round trip. Pixels are scaled over the range of all the
artifact's images (one scale, so images compare), higher values darker (ink on paper, as
scikit-learn draws its digits), and enlarged by whole pixels (nearest neighbour) to at least
:data:`MIN_SIDE` pixels a side, so an 8x8 digit is visible.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from workbench_plugin.experiment_info._confusion import ConfusionInfo

__all__ = ["MIN_SIDE", "image_uris", "png_bytes", "png_data_uri"]

#: The smallest side (pixels) of a drawn example image.
MIN_SIDE = 48


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit grey-scale PNG of a 2-D ``uint8`` array."""
    if pixels.ndim != 2 or pixels.dtype != np.uint8 or 0 in pixels.shape:
        raise ValueError(f"png_bytes needs a non-empty 2-D uint8 array, got {pixels.dtype} of shape {pixels.shape}")
    h, w = pixels.shape
    rows = np.hstack([np.zeros((h, 1), np.uint8), pixels]).tobytes()  # filter type 0 before each row
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))


def png_data_uri(image: np.ndarray, lo: float, hi: float) -> str:
    """``image`` (2-D numbers) as a PNG ``data:`` URI: ``lo`` white, ``hi`` black, enlarged to :data:`MIN_SIDE`."""
    span = hi - lo
    scaled = np.zeros(image.shape) if span <= 0 else (np.clip(image, lo, hi) - lo) / span
    pixels = np.round(255 * (1.0 - scaled)).astype(np.uint8)
    factor = max(1, -(-MIN_SIDE // max(image.shape)))
    if factor > 1:
        pixels = np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def image_uris(info: ConfusionInfo) -> list[str]:
    """One URI per misclassified example (``""`` for all when the examples are not images)."""
    if info.kind != "image" or not info.misclassified:
        return [""] * len(info.misclassified)
    stack = np.stack([e.value for e in info.misclassified])
    finite = stack[np.isfinite(stack)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return [png_data_uri(np.nan_to_num(e.value, nan=lo), lo, hi) for e in info.misclassified]
