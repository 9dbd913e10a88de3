"""decode.decode_picture against Pillow's decoding of the same files (picture_fixtures)."""

import numpy as np
import pytest
import tensorflow as tf

from picture_fixtures import BROKEN, formats, pattern, truncated_jpeg, with_orientation
from vaegan_tf.data.decode import decode_picture, exif_orientation

FORMATS = formats()


def _difference(got: np.ndarray, want: np.ndarray) -> tuple[float, int]:
    assert got.shape == want.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    return float(diff.mean()), int(diff.max())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_decodes_to_what_pillow_shows(name):
    data, want, tolerance = FORMATS[name]
    got = decode_picture(tf.constant(data)).numpy()
    mean, largest = _difference(got, want)
    # Lossless formats exactly (alpha compositing within rounding); lossy JPEG/WebP within the
    # spread of two libjpeg/libwebp builds: small on average, a few levels at edges.
    assert mean <= max(tolerance / 4, 0.5), (name, mean)
    assert largest <= 2 * tolerance if tolerance else largest <= 1, (name, largest)


def test_transparency_is_composited_on_white_not_dropped():
    data, want, _ = FORMATS["alpha.png"]
    got = decode_picture(tf.constant(data)).numpy()
    # The first column is fully transparent: white, whatever colour the pixels hold.
    np.testing.assert_array_equal(got[:, 0], 255)
    dropped = tf.io.decode_png(data, channels=3).numpy()  # what channels=3 alone would give
    assert np.abs(dropped[:, 0].astype(int) - 255).max() > 100


def test_palette_bmp_gets_its_colours_not_its_indices():
    data, want, _ = FORMATS["palette.bmp"]
    indices = tf.io.decode_bmp(data).numpy()
    assert indices.shape[-1] == 1  # TensorFlow alone gives palette indices as grey
    got = decode_picture(tf.constant(data)).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.ptp(got.astype(int) - got[..., :1], axis=None) > 0  # coloured, not grey


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_the_picture_as_a_viewer_does(orientation):
    data, want = with_orientation(pattern(), orientation)
    assert exif_orientation(tf.constant(data)).numpy() == orientation
    got = decode_picture(tf.constant(data)).numpy()
    mean, _ = _difference(got, want)
    assert mean < 1.5, mean
    stored = tf.io.decode_jpeg(data).numpy()  # the pixels as stored: sideways unless upright
    if orientation != 1:
        assert stored.shape != want.shape or _difference(stored, want)[0] > 20


@pytest.mark.parametrize("contents", [
    b"", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM", b"\xff\xd8" + b"Exif\x00\x00" * 3,
    b"\xff\xd8\xff\xe1\x00\x20Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(16),
    b"\x89PNG\r\n\x1a\nExif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03",
])
def test_missing_or_malformed_exif_reads_as_upright(contents):
    assert exif_orientation(tf.constant(contents)).numpy() == 1


@pytest.mark.parametrize("contents", [truncated_jpeg()] + [data for data, _ in BROKEN.values()])
def test_broken_files_fail_to_decode(contents):
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_picture(tf.constant(contents))


def test_decodes_inside_a_dataset_map():
    names = ["rgb.png", "baseline.jpg", "animated.GIF", "lossless.webp"]
    dataset = tf.data.Dataset.from_tensor_slices([FORMATS[n][0] for n in names]).map(decode_picture)
    for name, got in zip(names, dataset):
        assert got.shape == FORMATS[name][1].shape
