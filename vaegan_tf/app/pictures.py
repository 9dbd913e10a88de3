"""An uploaded picture's bytes -> the [-1, 1] crop the model reads, made exactly as the training
data's (decode.decode_picture, then preprocess.preprocess with the run's --crop and
--image_size), or a DataError that says what is wrong with the file.

The pixel limit is checked from the file's header, before decoding: the crop casts the whole
picture to float32 first, so a 25-megapixel picture already takes 300 MB, and a small file
(a PNG of one colour) can declare a billion pixels.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from vaegan_tf.config import Config
from vaegan_tf.data.decode import decode_picture, looks_like_picture
from vaegan_tf.data.preprocess import preprocess
from vaegan_tf.errors import DataError

MAX_PIXELS = 25_000_000  # a 24-megapixel camera's 6000x4000 fits
FORMATS = "JPEG, PNG, GIF, BMP or WebP"


def picture_size(contents: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the header of a picture file, or a DataError naming `name` when the
    bytes are not a picture decode_picture reads or hold more than MAX_PIXELS pixels."""
    if not contents:
        raise DataError(f"{name} is empty: upload a {FORMATS} picture")
    if not looks_like_picture(contents[:12]):
        raise DataError(f"{name} is not a picture: upload a {FORMATS} file")
    try:
        with Image.open(io.BytesIO(contents)) as picture:
            width, height = picture.size
    except Image.DecompressionBombError:  # Pillow's own, larger limit: too big either way
        width, height = MAX_PIXELS, 2
    except (OSError, ValueError, SyntaxError) as e:  # Pillow's ways of saying "broken file"
        raise DataError(f"{name} is not a readable picture ({e})") from None
    if width * height > MAX_PIXELS:
        raise DataError(f"{name} is too large: {width}x{height} pixels, more than the "
                        f"{MAX_PIXELS // 1_000_000} megapixels this page accepts; shrink it first")
    return width, height


def crop_picture(contents: bytes, config: Config, name: str = "the picture") -> np.ndarray:
    """float32 [S, S, 3] in [-1, 1]: the picture cropped and resized as the run's training data
    (config.crop, config.image_size), from any picture file's bytes."""
    picture_size(contents, name)
    try:
        image = decode_picture(tf.constant(contents))
    except tf.errors.InvalidArgumentError as e:
        raise DataError(f"{name} could not be decoded: {e.message.splitlines()[0]}") from None
    try:
        return preprocess(image, config.crop, config.image_size).numpy()
    except (tf.errors.InvalidArgumentError, ValueError):
        # Only a box crop can fail: the box lies outside a smaller picture (a ValueError when
        # the shapes are known, as they are here outside tf.data).
        raise DataError(f"{name} ({image.shape[1]}x{image.shape[0]} pixels) does not hold the "
                        f"run's --crop={config.crop}") from None


def read_upload(path: str | None) -> tuple[bytes, str]:
    """The bytes and file name of an upload that Gradio stored at `path` (its own temporary
    folder, never the run's), or a DataError when nothing was uploaded."""
    if not path:
        raise DataError("no picture: upload one or pick a test image")
    with open(path, "rb") as f:
        return f.read(), os.path.basename(path)
