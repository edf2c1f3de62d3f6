"""Image grids: uint8 faces tiled row by row, as an array (the dashboard's pages) or a PNG (the store's
reconstructions.png). numpy and Pillow only, no torch, so the pages that show grids stay quick to open; the
grid is the one torchvision.utils.make_grid draws with padding=0, pixel for pixel (checked when this module
replaced the hand-written one; torchvision is no longer a dependency)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def tile(images: np.ndarray, columns: int = 10) -> np.ndarray:
    """uint8 images (N, H, W) tiled row by row into one (rows * H, columns * W) image."""
    n, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * h, min(n, columns) * w), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
    return canvas


def png_grid(images: np.ndarray, columns: int = 10) -> bytes:
    """uint8 images (N, H, W) tiled row by row into one grayscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(tile(images, columns)).save(buffer, format="PNG")
    return buffer.getvalue()
