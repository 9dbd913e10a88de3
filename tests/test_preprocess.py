"""Tests of the crops against numpy/scipy references, and of flips and augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf
from PIL import Image

from vaegan_tf.data import preprocess, synthetic

# --- preprocess ----------------------------------------------------------------------------------

def _keys_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Bicubic (Keys, a=-0.5) resampling with half-pixel centres; taps outside the image are
    dropped and the rest renormalised, as TensorFlow's non-antialiased bicubic resize does."""
    def keys(x: float) -> float:
        x, a = abs(x), -0.5
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0

    matrix = np.zeros((n_out, n_in))
    for o in range(n_out):
        centre = (o + 0.5) * n_in / n_out - 0.5
        for k in range(math.floor(centre) - 1, math.floor(centre) + 3):
            if 0 <= k < n_in:
                matrix[o, k] = keys(centre - k)
        matrix[o] /= matrix[o].sum()
    return matrix


@pytest.mark.parametrize("size", [32, 64])
def test_original_crop_matches_scipy_reference(size):
    rng = np.random.default_rng(size)
    face = np.asarray(synthetic.draw_face(rng, synthetic.sample_attributes(rng)))
    crop = face[40:188, 15:163].astype(np.float64)
    sigma = math.sqrt(148 / size) / 2
    blurred = scipy.ndimage.gaussian_filter(crop, sigma=(sigma, sigma, 0), mode="reflect")
    m = _keys_resize_matrix(148, size)
    expected = np.clip(np.einsum("oi,ijc,pj->opc", m, blurred, m), 0, 255) / 127.5 - 1
    actual = preprocess.crop_resize(tf.constant(face), "original", size).numpy() / 127.5 - 1
    # Both compute the same sums; float32 rounding of values up to 255 bounds the gap near 1e-6.
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    # What training and serving see is that, rounded to uint8 (the cached form).
    served = preprocess.preprocess(tf.constant(face), "original", size).numpy()
    np.testing.assert_allclose(served, expected, atol=0.5 / 127.5 + 1e-4)
    np.testing.assert_array_equal(np.round((served + 1) * 127.5), np.round((expected + 1) * 127.5))


@pytest.mark.parametrize("crop, box", [("original", (40, 188, 15, 163)),
                                       ("center108", (55, 163, 35, 143)),
                                       ("square", (20, 198, 0, 178)),
                                       ("box:30,10,120,150", (30, 150, 10, 160))])
def test_crop_box_is_exact(crop, box):
    top, bottom, left, right = box
    inside = np.zeros((218, 178, 3), np.uint8)
    inside[top:bottom, left:right] = 255
    # A box reaching one pixel past the planted one pulls the outside into the output's edge.
    for planted, value in ((inside, 1.0), (255 - inside, -1.0)):
        out = preprocess.preprocess(tf.constant(planted), crop, 64).numpy()
        np.testing.assert_allclose(out, value, atol=1e-5)
    # A box one pixel short on any side misses that side of a planted one-pixel frame.
    frame = np.zeros((218, 178, 3), np.uint8)
    frame[[top, bottom - 1], left:right] = 255
    frame[top:bottom, [left, right - 1]] = 255
    out = preprocess.preprocess(tf.constant(frame), crop, 64).numpy().mean(axis=-1)
    for edge in (out[0], out[-1], out[:, 0], out[:, -1]):
        assert edge.min() > -0.8, edge.min()


@pytest.mark.parametrize("crop", ["original", "center108"])
@pytest.mark.parametrize("shape", [(218, 178, 3), (100, 80, 3), (300, 300, 3)])
def test_preprocess_shape_and_range(crop, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = preprocess.preprocess(tf.constant(image), crop, 32)
    assert out.shape == (32, 32, 3) and out.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0


def test_center108_matches_pil_reference():
    rng = np.random.default_rng(1)
    face = np.asarray(synthetic.draw_face(rng, synthetic.sample_attributes(rng)))
    crop = Image.fromarray(face[55:163, 35:143]).resize((64, 64), Image.BICUBIC)
    expected = np.asarray(crop, np.float64) / 127.5 - 1
    actual = preprocess.preprocess(tf.constant(face), "center108", 64).numpy()
    # PIL's bicubic (a=-0.5) is also antialiased when shrinking; kernels differ in their edges.
    assert np.abs(actual - expected).mean() < 0.01


@pytest.mark.parametrize("shape", [(120, 300), (300, 120), (64, 64)])
def test_square_crop_of_any_aspect_matches_pil_reference(shape):
    rng = np.random.default_rng(2)
    picture = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    side = min(shape)
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    crop = Image.fromarray(picture[top:top + side, left:left + side]).resize((32, 32), Image.BICUBIC)
    expected = np.asarray(crop, np.float64) / 127.5 - 1
    actual = preprocess.preprocess(tf.constant(picture), "square", 32).numpy()
    assert np.abs(actual - expected).mean() < 0.02


def test_a_box_the_picture_does_not_hold_fails_to_decode():
    # The pipeline then skips the picture as corrupt and names it (folder.skip_summary).
    crop = tf.function(lambda image: preprocess.preprocess(image, "box:50,50,60,20", 32),
                       input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    assert crop(tf.zeros([110, 70, 3], tf.uint8)).shape == (32, 32, 3)
    with pytest.raises(tf.errors.InvalidArgumentError):
        crop(tf.zeros([100, 100, 3], tf.uint8))  # as in tf.data: sizes known only at run time


def test_image_size_128():
    face = np.random.default_rng(0).integers(0, 256, (218, 178, 3), dtype=np.uint8)
    for crop in ("original", "center108"):
        assert preprocess.preprocess(tf.constant(face), crop, 128).shape == (128, 128, 3)


def test_flip_and_augment_are_seeded():
    rng = np.random.default_rng(2)
    face = np.asarray(synthetic.draw_face(rng, synthetic.sample_attributes(rng)))
    crop = preprocess.crop_uint8(tf.constant(face), "original", 64)
    seeds = [tf.constant([s, 7], tf.int64) for s in range(8)]
    flips = [preprocess.flip(crop, s).numpy() for s in seeds]
    mirrored = [np.array_equal(f, crop.numpy()[:, ::-1]) for f in flips]
    assert any(mirrored) and not all(mirrored)
    assert all(np.array_equal(f, crop.numpy()) for f, m in zip(flips, mirrored) if not m)
    a = preprocess.augment(crop, seeds[0]).numpy()
    np.testing.assert_array_equal(a, preprocess.augment(crop, seeds[0]).numpy())
    b = preprocess.augment(crop, seeds[1]).numpy()
    assert not np.array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 255
    # Light: the face stays where it was, on average within a few grey levels.
    assert np.abs(a - crop.numpy()).mean() < 12


def test_augment_shift_moves_content():
    # With only a shift drawn large, a bright column moves by about that many pixels.
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32] = 255
    out = preprocess.augment(tf.constant(image), tf.constant([3, 4], tf.int64)).numpy()
    column = int(np.argmax(out.mean(axis=(0, 2))))
    assert abs(column - 32) <= 4
