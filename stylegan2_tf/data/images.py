"""Image output helpers, the one set the package uses: float -> uint8, grids, PNG and GIF files (atomic writes).

File writers take the path first: `save_png(path, image)`, `save_gif(path, frames, ...)`,
`save_image_grid(path, images, grid)`. The TensorFlow-graph twin of `to_uint8` (it must be a TF op inside an exported
SavedModel) is `stylegan2_tf.export.savedmodel.to_uint8`; tests check that both give the same bytes.
"""

from __future__ import annotations

import io
import os
from typing import Optional, Sequence, Tuple

import numpy as np

from stylegan2_tf.atomic_io import atomic_write_bytes


def to_uint8(images, drange=(-1.0, 1.0)) -> np.ndarray:
    """Float images in ``drange`` -> uint8, any shape, with the official rule clip(x * 127.5 + 128, 0, 255) for
    [-1, 1] (truncation after adding half a level, i.e. rounding)."""
    lo, hi = (float(v) for v in drange)
    if not hi > lo:
        raise ValueError(f"drange must be (low, high) with high > low, got {drange}")
    scale = np.float32(255.0 / (hi - lo))
    offset = np.float32(0.5 - lo * (255.0 / (hi - lo)))          # 128 for [-1, 1]
    x = np.asarray(images, np.float32) * scale + offset
    return np.clip(x, 0, 255).astype(np.uint8)


def grid_shape(n: int, max_cols: Optional[int] = None) -> Tuple[int, int]:
    """(rows, cols) for n images: as square as possible, cols = ceil(sqrt(n)) (at most max_cols)."""
    cols = int(np.ceil(np.sqrt(n)))
    if max_cols:
        cols = min(cols, max_cols)
    rows = int(np.ceil(n / cols))
    return rows, cols


def make_grid(images: np.ndarray, grid: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Tile images [N, H, W, C] into one image [rows*H, cols*W, C] (row-major, black padding).

    grid: (rows, cols); default `grid_shape(N)`.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f'images must be [N, H, W, C], got shape {images.shape}')
    n, h, w, c = images.shape
    rows, cols = grid if grid is not None else grid_shape(n)
    if rows * cols < n:
        raise ValueError(f'grid {rows}x{cols} too small for {n} images')
    out = np.zeros([rows * h, cols * w, c], images.dtype)
    for i in range(n):
        r, k = divmod(i, cols)
        out[r * h:(r + 1) * h, k * w:(k + 1) * w] = images[i]
    return out


def to_pil(image_u8: np.ndarray):
    """[H, W, C] uint8 -> PIL image: C=1 'L', C=3 'RGB', C=4 'RGBA'."""
    import PIL.Image
    image_u8 = np.asarray(image_u8)
    if image_u8.dtype != np.uint8:
        raise ValueError(f'images must be uint8 to be written (use to_uint8), got {image_u8.dtype}')
    if image_u8.ndim != 3 or image_u8.shape[2] not in (1, 3, 4):
        raise ValueError(f"cannot write an image with shape {image_u8.shape} (need [H, W, C], C = 1, 3 or 4)")
    if image_u8.shape[2] == 1:
        return PIL.Image.fromarray(image_u8[:, :, 0], 'L')
    return PIL.Image.fromarray(image_u8, 'RGB' if image_u8.shape[2] == 3 else 'RGBA')


def _check_path(path, fn: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'{fn}(path, ...) takes the file path first, got {type(path).__name__}')
    return os.fspath(path)


def save_png(path: str, image: np.ndarray) -> None:
    """Writes one uint8 image [H, W, C] (C = 1, 3 or 4) as PNG, atomically."""
    path = _check_path(path, 'save_png')
    buf = io.BytesIO()
    to_pil(image).save(buf, format='PNG')
    atomic_write_bytes(path, buf.getvalue())


def save_gif(path: str, frames: Sequence[np.ndarray], duration_ms: int, loop: int = 0) -> None:
    """Writes uint8 frames [H, W, C] as an animated GIF (duration_ms per frame, loop=0: forever), atomically."""
    path = _check_path(path, 'save_gif')
    if len(frames) == 0:
        raise ValueError('save_gif needs at least one frame')
    pils = [to_pil(f) for f in frames]
    buf = io.BytesIO()
    pils[0].save(buf, format='GIF', save_all=True, append_images=pils[1:], duration=int(duration_ms), loop=loop)
    atomic_write_bytes(path, buf.getvalue())


def save_image_grid(path: str, images: np.ndarray, grid: Optional[Tuple[int, int]] = None) -> None:
    """Tiles uint8 images [N, H, W, C] (see `make_grid`) and writes them as one PNG."""
    save_png(path, make_grid(images, grid))
