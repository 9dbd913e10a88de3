"""Pictures of a model's images: grids of [-1, 1] images and the PNGs they are saved as."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vaegan_tf.files import atomic_path


def image_grid(images: np.ndarray, cols: int) -> np.ndarray:
    """Tiles [N, H, W, 3] images in [-1, 1] into one uint8 [rows*H, cols*W, 3] picture."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w, ch = images.shape
    rows = -(-n // cols)
    padded = np.full((rows * cols, h, w, ch), -1.0, np.float32)
    padded[:n] = images
    grid = padded.reshape(rows, cols, h, w, ch).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, ch)
    return np.round((np.clip(grid, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def side_by_side(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Interleaves inputs and outputs so each input sits left of its reconstruction."""
    return np.stack([inputs, outputs], axis=1).reshape((-1,) + inputs.shape[1:])


def write_png(path: str, grid: np.ndarray) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(grid).save(tmp)
