"""Any picture file's bytes -> an upright uint8 [H, W, 3] RGB image, in TensorFlow ops only.

`tf.io.decode_image` reads JPEG (baseline, progressive, CMYK), PNG (8/16-bit, palette, grey,
alpha), GIF (its first frame here), BMP and WebP. What it leaves undone is written here by hand:
- EXIF orientation: cameras and phones store a sideways picture plus a tag saying how to turn it;
  TensorFlow ignores the tag. `exif_orientation` reads it from a JPEG's APP1 segment, `upright`
  applies it, as every image viewer does.
- transparency: decode_image gives RGBA (or grey + alpha) as it is stored, and channels=3 drops
  the alpha, which shows whatever colour hides under transparent pixels (often black). Pictures
  with alpha are composited on white here, as a browser shows them on a white page.
- BMP: TensorFlow returns an 8-bit BMP's palette indices as grey levels (right only for grey
  palettes): `_bmp_colours` looks them up in the file's palette. A 32-bit BMP's fourth byte is
  reserved by the format and often zero, so it is dropped rather than read as alpha.
Only TensorFlow ops: the same function decodes in tf.data (no Python, no GIL) and inside the
exported encoder's `encode_jpeg` signature, so served and trained pixels agree.
"""

from __future__ import annotations

import tensorflow as tf

# APP1 (EXIF) must lie within the first 64 KiB of a JPEG: a segment's length field is 16 bits.
EXIF_WINDOW = 1 << 16
_EXIF_MARKER = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112
MAX_IFD_ENTRIES = 64  # IFD0 of real files holds ~10-20 tags; more is read as "no orientation"


def _uint(buffer: tf.Tensor, offset: tf.Tensor, size: int, big_endian: tf.Tensor) -> tf.Tensor:
    """The unsigned `size`-byte integer(s) at `offset` (scalar or vector) of uint8 `buffer`,
    int64, in the given byte order; bytes past the end read as 0."""
    positions = tf.cast(offset, tf.int64)[..., tf.newaxis] + tf.range(size, dtype=tf.int64)
    inside = positions < tf.size(buffer, tf.int64)
    values = tf.where(inside, tf.gather(buffer, tf.minimum(positions, tf.size(buffer, tf.int64) - 1)),
                      tf.zeros([], tf.uint8))
    values = tf.cast(values, tf.int64)
    weights = tf.bitwise.left_shift(tf.constant(1, tf.int64), 8 * tf.range(size, dtype=tf.int64))
    weights = tf.where(big_endian, tf.reverse(weights, [0]), weights)
    return tf.reduce_sum(values * weights, axis=-1)


def exif_orientation(contents: tf.Tensor) -> tf.Tensor:
    """EXIF tag 0x0112 of a JPEG's bytes as int32 in 1..8 (1: upright; also for every other
    format, and for a missing, malformed or out-of-range tag).

    The tag lives in IFD0 of the TIFF block that follows "Exif\\0\\0" in the APP1 segment (FF E1).
    """
    head = tf.strings.substr(contents, 0, EXIF_WINDOW)
    parts = tf.strings.split(head, sep=_EXIF_MARKER, maxsplit=1)
    before = parts[0]
    found = tf.logical_and(tf.size(parts) == 2, tf.strings.length(before) >= 4)
    found = tf.logical_and(found, tf.strings.substr(head, 0, 2) == b"\xff\xd8")

    def read() -> tf.Tensor:
        # The marker must open an APP1 segment: FF E1, two length bytes, then "Exif\0\0".
        in_app1 = tf.strings.substr(before, tf.strings.length(before) - 4, 2) == b"\xff\xe1"
        tiff = tf.io.decode_raw(parts[1], tf.uint8)
        big = tf.strings.substr(parts[1], 0, 2) == b"MM"
        little = tf.strings.substr(parts[1], 0, 2) == b"II"
        ifd = _uint(tiff, 4, 4, big)
        count = tf.minimum(_uint(tiff, ifd, 2, big), MAX_IFD_ENTRIES)
        entries = ifd + 2 + 12 * tf.range(count)
        tags = _uint(tiff, entries, 2, big)
        values = _uint(tiff, entries + 8, 2, big)  # a SHORT sits in the value field's first bytes
        value = tf.reduce_max(tf.where(tags == ORIENTATION_TAG, values, 0))
        valid = tf.logical_and(tf.logical_and(in_app1, big | little),
                               tf.logical_and(value >= 1, value <= 8))
        return tf.cast(tf.where(valid, value, 1), tf.int32)

    return tf.cond(found, read, lambda: tf.constant(1, tf.int32))


def upright(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """[H, W, C] stored as EXIF `orientation` says (1..8) -> as it is meant to be seen."""
    # tf.image.rot90 turns counter-clockwise; orientation 6 means "turn 90° clockwise to view".
    turns = [
        lambda: image,                                                # 1 upright
        lambda: tf.image.flip_left_right(image),                      # 2 mirrored
        lambda: tf.image.rot90(image, 2),                             # 3 upside down
        lambda: tf.image.flip_up_down(image),                         # 4 mirrored upside down
        lambda: tf.image.transpose(image),                            # 5 mirrored, turned left
        lambda: tf.image.rot90(image, 3),                             # 6 turned left
        lambda: tf.image.rot90(tf.image.transpose(image), 2),         # 7 mirrored, turned right
        lambda: tf.image.rot90(image, 1),                             # 8 turned right
    ]
    return tf.switch_case(tf.clip_by_value(orientation - 1, 0, 7), turns)


def _bmp_colours(contents: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    """A BMP as decode_image returns it -> its real colours: palette lookup for 8-bit files, the
    reserved fourth byte of 32-bit files dropped."""
    header = tf.io.decode_raw(tf.strings.substr(contents, 0, 54), tf.uint8)
    little = tf.constant(False)
    bits = _uint(header, 28, 2, little)
    info_size = _uint(header, 14, 4, little)
    colours = _uint(header, 46, 4, little)

    def palette_lookup() -> tf.Tensor:
        count = tf.where(colours == 0, tf.constant(256, tf.int64), colours)
        table = tf.io.decode_raw(tf.strings.substr(contents, 14 + info_size, 4 * count), tf.uint8)
        table = tf.reshape(table[:4 * (tf.size(table, tf.int64) // 4)], [-1, 4])
        rgb = tf.reverse(table[:, :3], [1])  # stored as B, G, R, 0
        indices = tf.minimum(tf.cast(image[..., 0], tf.int32), tf.shape(rgb)[0] - 1)
        return tf.gather(rgb, indices)

    return tf.case([(tf.logical_and(bits == 8, tf.shape(image)[-1] == 1), palette_lookup),
                    (tf.logical_and(bits == 32, tf.shape(image)[-1] == 4),
                     lambda: image[..., :3])],
                   default=lambda: image)


def _composited(image: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 1..4] (grey, grey + alpha, RGB, RGBA) -> RGB [H, W, 3], alpha over white."""
    channels = tf.shape(image)[-1]
    pixels = tf.cast(image, tf.float32)
    has_alpha = tf.logical_or(channels == 2, channels == 4)
    colour = tf.cond(has_alpha, lambda: pixels[..., :-1], lambda: pixels)
    alpha = tf.cond(has_alpha, lambda: pixels[..., -1:] / 255.0, lambda: tf.ones_like(pixels[..., :1]))
    colour = tf.cond(tf.shape(colour)[-1] == 1, lambda: tf.tile(colour, [1, 1, 3]), lambda: colour)
    blended = colour * alpha + 255.0 * (1.0 - alpha)
    return tf.ensure_shape(tf.cast(tf.round(blended), tf.uint8), [None, None, 3])


# The first bytes of each format read here; WebP is RIFF, four size bytes, WEBP.
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
WEBP = (b"RIFF", b"WEBP")


def looks_like_picture(head: bytes) -> bool:
    """Whether a file's first 12 bytes open one of the formats decode_picture reads."""
    return head.startswith(MAGIC) or (head[:4] == WEBP[0] and head[8:12] == WEBP[1])


def has_picture_magic(contents: tf.Tensor) -> tf.Tensor:
    """`looks_like_picture` in TensorFlow ops, for a string tensor of file bytes."""
    matches = [tf.strings.substr(contents, 0, len(m)) == m for m in MAGIC]
    matches.append(tf.logical_and(tf.strings.substr(contents, 0, 4) == WEBP[0],
                                  tf.strings.substr(contents, 8, 4) == WEBP[1]))
    return tf.reduce_any(tf.stack(matches))


def decode_picture(contents: tf.Tensor) -> tf.Tensor:
    """A picture file's bytes (JPEG, PNG, GIF, BMP, WebP) -> uint8 [H, W, 3] RGB, upright, alpha
    composited on white; a GIF's first frame. Fails (InvalidArgumentError) on anything else."""
    image = tf.io.decode_image(contents, channels=0, expand_animations=False, dtype=tf.uint8)
    is_bmp = tf.strings.substr(contents, 0, 2) == b"BM"
    image = tf.cond(is_bmp, lambda: _bmp_colours(contents, image), lambda: image)
    return upright(_composited(image), exif_orientation(contents))
