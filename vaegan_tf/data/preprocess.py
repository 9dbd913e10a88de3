"""Image preprocessing shared by every source, by training and by the exported encoder.

One face goes through two stages:
1. `crop_uint8`: the deterministic part (crop, anti-alias blur, resize), rounded to uint8. This is
   what the input pipeline caches, so later passes over the data skip JPEG decoding and resizing.
2. `to_unit_range` after the random part used in training only (`flip`, optional `augment`).
`preprocess` = stage 1 then scaling to [-1, 1]: exactly what training sees without augmentation,
so a served encoder and a trained one get the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from vaegan_tf.config_checks import BOX, parse_box

# The authors' crop of the 218x178 aligned image (rows 40:188, columns 15:163).
ALIGNED_HEIGHT, ALIGNED_WIDTH = 218, 178
ORIGINAL_BOX = (40, 15, 148, 148)  # top, left, height, width
CENTER_SIDES = {"center108": 108,  # DCGAN's centre crop of CelebA
                "center150": 150}  # the authors' centre crop of LFW's 250x250 images

# Light augmentation, modelled on the authors' code: Gaussian jitter with these sigmas.
SHIFT_SIGMA = 1.0 / 64  # translation, as a fraction of the image side (1 pixel at 64x64)
SCALE_SIGMA = 0.01  # log of the zoom factor
ROTATION_SIGMA = 0.01  # radians
GAMMA_SIGMA = 0.07  # log of the gamma exponent
CONTRAST_SIGMA = 0.07  # log of the contrast factor
HUE_SIGMA = 0.0125  # fraction of the hue circle


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Blurs [B, H, W, C] float images like scipy.ndimage.gaussian_filter(mode='reflect')."""
    radius = max(1, int(4.0 * sigma + 0.5))  # scipy's default truncation at 4 sigma
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    taps = tf.constant((taps / taps.sum()).astype(np.float32))
    channels = images.shape[-1]
    # SYMMETRIC repeats the edge pixel (d c b a | a b c d), which is scipy's 'reflect'.
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "SYMMETRIC")
    rows = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    columns = tf.tile(tf.reshape(taps, [1, -1, 1, 1]), [1, 1, channels, 1])
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, columns, [1, 1, 1, 1], "VALID")


def _scaled(size: tf.Tensor, value: int, reference: int) -> tf.Tensor:
    return tf.cast(tf.round(tf.cast(size, tf.float32) * (value / reference)), tf.int32)


def crop_resize(image: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """Crops and resizes one uint8 [H, W, 3] face to float32 [S, S, 3] in [0, 255], unrounded.

    crop="original" is the authors' pipeline: rows 40:188, columns 15:163 of an aligned 218x178
    image (the box scales with other sizes; the blur does not), a Gaussian blur of sigma
    sqrt(148 / image_size) / 2 against aliasing when shrinking, then a bicubic resize.
    crop="center108" is DCGAN's 108x108 centre crop, resized with an antialiased bicubic filter;
    crop="center150" is the same with the 150x150 centre of LFW's 250x250 images (authors' code);
    crop="square" with the largest centred square of any picture; crop="box:TOP,LEFT,HEIGHT,WIDTH"
    with that box in pixels (stretched to a square if it is not one).
    """
    image = tf.convert_to_tensor(image)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pixels = tf.cast(image, tf.float32)[tf.newaxis]
    if crop == "original":
        top, left, box_height, box_width = ORIGINAL_BOX
        pixels = tf.image.crop_to_bounding_box(
            pixels, _scaled(height, top, ALIGNED_HEIGHT), _scaled(width, left, ALIGNED_WIDTH),
            _scaled(height, box_height, ALIGNED_HEIGHT), _scaled(width, box_width, ALIGNED_WIDTH))
        if image_size < box_height:
            pixels = gaussian_blur(pixels, math.sqrt(box_height / image_size) / 2)
        pixels = tf.image.resize(pixels, [image_size, image_size], method="bicubic",
                                 antialias=False)
    elif crop in CENTER_SIDES or crop == "square" or crop.startswith(BOX):
        if crop.startswith(BOX):
            # A box the picture does not hold fails here, so the picture is skipped or named.
            top, left, box_height, box_width = parse_box(crop)
            pixels = tf.image.crop_to_bounding_box(pixels, top, left, box_height, box_width)
        else:
            side = tf.minimum(height, width)
            if crop in CENTER_SIDES:
                side = tf.minimum(CENTER_SIDES[crop], side)
            pixels = tf.image.crop_to_bounding_box(pixels, (height - side) // 2,
                                                   (width - side) // 2, side, side)
        pixels = tf.image.resize(pixels, [image_size, image_size], method="bicubic",
                                 antialias=True)
    else:
        raise ValueError(f"unknown crop {crop!r}")
    # Bicubic filters overshoot; clip so the output range matches Dec's tanh exactly.
    return tf.clip_by_value(pixels[0], 0.0, 255.0)


def crop_uint8(image: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """`crop_resize` rounded to uint8 [S, S, 3]: the cacheable, deterministic stage."""
    return tf.cast(tf.round(crop_resize(image, crop, image_size)), tf.uint8)


def to_unit_range(image: tf.Tensor) -> tf.Tensor:
    """uint8 (or float in [0, 255]) pixels to float32 in [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def preprocess(image: tf.Tensor, crop: str, image_size: int) -> tf.Tensor:
    """One uint8 [H, W, 3] face to float32 [S, S, 3] in [-1, 1], exactly as training sees it
    before its random flips: `crop_uint8` then `to_unit_range`."""
    return to_unit_range(crop_uint8(image, crop, image_size))


def flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors [S, S, 3] left-right with probability 1/2, decided by the [2] int64 seed."""
    coin = tf.random.stateless_uniform([], seed=seed, maxval=2, dtype=tf.int32)
    return tf.cond(coin == 0, lambda: tf.image.flip_left_right(image), lambda: image)


def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Light random jitter of a uint8 [S, S, 3] crop, returned as float32 in [0, 255].

    A small affine warp (shift, zoom, rotation about the centre; bilinear, edges repeated) and
    colour jitter (gamma, contrast, hue), all drawn from the [2] int64 seed, so a seed stream
    makes the augmentation reproducible.
    """
    side = tf.cast(tf.shape(image)[0], tf.float32)
    noise = tf.random.stateless_normal([7], seed=seed)
    dx, dy = noise[0] * SHIFT_SIGMA * side, noise[1] * SHIFT_SIGMA * side
    zoom, angle = tf.exp(noise[2] * SCALE_SIGMA), noise[3] * ROTATION_SIGMA
    # Output pixel (x, y) samples input at A @ (x - c, y - c) + c - shift: rotation and zoom about
    # the centre c, in ImageProjectiveTransform's [a0 a1 a2 b0 b1 b2 c0 c1] form.
    c = (side - 1) / 2
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    transform = tf.stack([cos, -sin, c - cos * c + sin * c - dx,
                          sin, cos, c - sin * c - cos * c - dy, 0.0, 0.0])
    pixels = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[tf.newaxis], transforms=transform[tf.newaxis],
        output_shape=tf.shape(image)[:2], fill_value=0.0, interpolation="BILINEAR",
        fill_mode="NEAREST")[0]
    pixels = pixels / 255.0
    pixels = tf.image.adjust_hue(pixels, noise[4] * HUE_SIGMA)
    mean = tf.reduce_mean(pixels)
    pixels = (pixels - mean) * tf.exp(noise[5] * CONTRAST_SIGMA) + mean
    pixels = tf.clip_by_value(pixels, 0.0, 1.0) ** tf.exp(noise[6] * GAMMA_SIGMA)
    return pixels * 255.0
