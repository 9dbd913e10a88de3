"""The page's events as plain functions: the inputs a part's controls hold -> the pictures it
shows and one line of message. A mistake in the input (a file that is not a picture, a seed out
of range) comes back as that line, never as an exception or a stack trace on the page; an
unexpected error is logged with its traceback on the server's console and named in the line.

Pictures are enlarged here with whole pixels (`shown`), so the browser shows the model's own
pixels rather than its smoothing of a 32x32 image.
"""

from __future__ import annotations

import numpy as np
from absl import logging

from vaegan_tf.app import pictures
from vaegan_tf.app.backend import Backend
from vaegan_tf.errors import UserError
from vaegan_tf.images import image_grid

PICTURE_SIDE = 128  # screen pixels of one picture (at least: whole multiples of S)
GRID_TILE = 64  # screen pixels of one tile of a grid


def scale_for(image_size: int, side: int) -> int:
    return max(1, side // image_size)


def shown(pixels: np.ndarray, scale: int) -> np.ndarray:
    """uint8 [H, W, 3] with each pixel repeated `scale` x `scale` times."""
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def message(error: Exception) -> str:
    if isinstance(error, UserError):
        return f"⚠ {error}"
    logging.exception("the page's request failed")
    return f"⚠ internal error ({type(error).__name__}: {error}); the server's console has details"


class Handlers:
    """One per page; `backend` holds the run restored once."""

    def __init__(self, backend: Backend):
        self.backend = backend
        size = backend.config.image_size
        self.picture_scale = scale_for(size, PICTURE_SIDE)
        self.grid_scale = scale_for(size, GRID_TILE)

    def _y(self, ticked_names) -> np.ndarray | None:
        """A conditional run's y from the ticked attribute names; None for other runs."""
        if not self.backend.config.conditional:
            return None
        names = self.backend.attribute_names
        unknown = set(ticked_names or ()) - set(names)
        if unknown:
            raise UserError(f"unknown attribute(s): {', '.join(sorted(unknown))}")
        return self.backend.attribute_values([n in (ticked_names or ()) for n in names])

    def samples(self, seed, temperature):
        """-> (the prior grid, message)."""
        try:
            return shown(self.backend.samples(seed, temperature), self.grid_scale), ""
        except Exception as e:  # noqa: BLE001 - every failure becomes the part's message
            return None, message(e)

    def draws(self, ticked_names, seed, temperature):
        """-> (a conditional run's grid for the ticked attributes, message)."""
        try:
            y = self._y(ticked_names)
            ticked = [n in (ticked_names or ()) for n in self.backend.attribute_names]
            assert y is not None  # the page shows this part for conditional runs only
            return shown(self.backend.draws(ticked, seed, temperature), self.grid_scale), ""
        except Exception as e:  # noqa: BLE001
            return None, message(e)

    def _picture(self, upload_path: str | None, test_number) -> np.ndarray:
        if test_number is not None:
            return self.backend.test_image(test_number)
        contents, name = pictures.read_upload(upload_path)
        return pictures.crop_picture(contents, self.backend.config, name)

    def reconstruct(self, upload_path: str | None, test_number, ticked_names=()):
        """An upload (or test image `test_number`, 1-based) -> (its crop, its reconstruction,
        its code for the attribute sliders, message)."""
        try:
            image = self._picture(upload_path, test_number)
            code, reconstruction = self.backend.reconstruct(image, self._y(ticked_names))
            crop = image_grid(image[None], cols=1)
            return (shown(crop, self.picture_scale), shown(reconstruction, self.picture_scale),
                    code, "")
        except Exception as e:  # noqa: BLE001
            return None, None, None, message(e)

    def end(self, upload_path: str | None, test_number):
        """One end of an interpolation -> (its crop shown, the crop kept for the path, message)."""
        try:
            image = self._picture(upload_path, test_number)
            return shown(image_grid(image[None], cols=1), self.picture_scale), image, ""
        except Exception as e:  # noqa: BLE001
            return None, None, message(e)

    def interpolate(self, a, b, ticked_names=()):
        """Both ends' crops -> (the row from a to b, message); a hint until both are chosen."""
        if a is None or b is None:
            return None, "Choose both pictures: the faces between them appear here."
        try:
            row = self.backend.interpolate(np.asarray(a), np.asarray(b), self._y(ticked_names))
            return shown(row, self.picture_scale), ""
        except Exception as e:  # noqa: BLE001
            return None, message(e)

    def edit(self, code, *strengths):
        """The current picture's code and one strength per attribute slider -> (Dec(code + Σ s v),
        message); a hint until a picture has been reconstructed."""
        if code is None:
            return None, "Reconstruct a picture first: the sliders edit it."
        try:
            return shown(self.backend.edit(np.asarray(code), strengths), self.picture_scale), ""
        except Exception as e:  # noqa: BLE001
            return None, message(e)
