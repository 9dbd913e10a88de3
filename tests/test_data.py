"""Tests of the CelebA reader, the preprocessing and the tf.data pipeline, on generated files."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf
from PIL import Image

from vaegan_tf import data, synthetic
from vaegan_tf.config import Config
from vaegan_tf.errors import DataError

NUM_SYNTHETIC = 120  # 96 train, 12 validation, 12 test


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("synthetic") / "data")
    synthetic.ensure_synthetic(root, NUM_SYNTHETIC, seed=0)
    return root


def _config(root: str, **changes) -> Config:
    values = dict(dataset="synthetic", data_dir=root, synthetic_images=NUM_SYNTHETIC, seed=0,
                  batch_size=16, image_size=32)
    return Config(**(values | changes))


def write_layout(root, attributes: np.ndarray, partition: list[int], names: list[str] | None = None,
                 newline: str = "\n", colours: np.ndarray | None = None) -> list[str]:
    """Writes a tiny dataset in CelebA's layout, each image one flat colour (grey by default)."""
    n, a = attributes.shape
    names = names or [f"Attr_{j}" for j in range(a)]
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    os.makedirs(os.path.join(root, "img_align_celeba"), exist_ok=True)
    for i, name in enumerate(files):
        colour = tuple(int(c) for c in colours[i]) if colours is not None else (128, 128, 128)
        Image.new("RGB", (178, 218), colour).save(os.path.join(root, "img_align_celeba", name),
                                                  quality=95)
    rows = [f"{f} " + " ".join(f"{v:2d}" for v in row) for f, row in zip(files, attributes)]
    with open(os.path.join(root, "list_attr_celeba.txt"), "w", newline="") as f:
        f.write(newline.join([str(n), " ".join(names) + " "] + rows) + newline)
    with open(os.path.join(root, "list_eval_partition.txt"), "w", newline="") as f:
        f.write(newline.join(f"{name} {p}" for name, p in zip(files, partition)) + newline)
    return files


# --- read_celeba ---------------------------------------------------------------------------------

def test_read_celeba_on_synthetic_data(synthetic_root):
    index = data.read_celeba(synthetic_root)
    assert len(index) == NUM_SYNTHETIC and index.attribute_names == synthetic.ATTRIBUTE_NAMES
    assert index.attributes.dtype == np.float32 and index.attributes.shape == (NUM_SYNTHETIC, 11)
    assert set(np.unique(index.attributes)) == {0.0, 1.0}
    assert np.array_equal(np.bincount(index.partition), [96, 12, 12])
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in index.filenames)
    assert os.path.basename(index.filenames[6]) == "000007.jpg"
    with open(os.path.join(synthetic_root, "list_attr_celeba.txt")) as f:
        row = f.read().splitlines()[2 + 6].split()
    assert np.array_equal(index.attributes[6], [float(v == "1") for v in row[1:]])


def test_read_celeba_tolerates_crlf_and_runs_of_spaces(tmp_path):
    attributes = np.array([[1, -1], [-1, 1], [1, 1]])
    write_layout(tmp_path, attributes, [0, 1, 2], names=["Smiling", "Male"], newline="\r\n")
    index = data.read_celeba(str(tmp_path))
    assert index.attribute_names == ("Smiling", "Male")
    assert np.array_equal(index.attributes, [[1, 0], [0, 1], [1, 1]])
    assert index.partition.tolist() == [0, 1, 2]


def _corrupt(root, filename: str, old: str, new: str) -> None:
    path = os.path.join(root, filename)
    with open(path) as f:
        text = f.read()
    assert old in text
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


ATTR = "list_attr_celeba.txt"
PART = "list_eval_partition.txt"


@pytest.mark.parametrize("damage, message", [
    (lambda r: os.remove(os.path.join(r, ATTR)), rf"{ATTR} not found"),
    (lambda r: os.remove(os.path.join(r, PART)), rf"{PART} not found"),
    (lambda r: _corrupt(r, ATTR, "000002.jpg  1 -1", "000002.jpg  1 -1 1"),
     rf"{ATTR}:4: .*4 fields"),
    (lambda r: _corrupt(r, ATTR, "000003.jpg -1", "000003.jpg  0"), rf"{ATTR}:5: A is '0'"),
    (lambda r: _corrupt(r, ATTR, "4\n", "5\n"), rf"{ATTR}: the first line says 5 .* 4 are listed"),
    (lambda r: _corrupt(r, ATTR, "4\n", "four\n"), rf"{ATTR}:1: expected the number"),
    (lambda r: _corrupt(r, PART, "000004.jpg 2", "000004.jpg 2\n000009.jpg 0"),
     rf"000009.jpg is listed in .*{PART} but not in .*{ATTR}"),
    (lambda r: _corrupt(r, PART, "000004.jpg 2\n", ""),
     rf"000004.jpg is listed in .*{ATTR} but not in"),
    (lambda r: _corrupt(r, PART, "000003.jpg 1", "000003.jpg 7"), rf"{PART}:3: expected"),
    (lambda r: _corrupt(r, ATTR, "000003.jpg", "000002.jpg"),
     rf"{ATTR}: 000002.jpg is listed twice"),
    (lambda r: os.remove(os.path.join(r, "img_align_celeba", "000003.jpg")),
     r"img_align_celeba/000003.jpg not found \(1 listed image"),
    (lambda r: open(os.path.join(r, "img_align_celeba", "000002.jpg"), "w").close(),
     r"img_align_celeba/000002.jpg is empty"),
])
def test_read_celeba_rejects_bad_input(tmp_path, damage, message):
    write_layout(tmp_path, np.array([[1, -1], [1, -1], [-1, 1], [1, 1]]), [0, 0, 1, 2],
                 names=["A", "B"])
    damage(str(tmp_path))
    with pytest.raises(DataError, match=message):
        data.read_celeba(str(tmp_path))


def test_read_celeba_missing_root_explains_layout_and_demo(tmp_path):
    root = str(tmp_path / "celeba")
    with pytest.raises(DataError) as error:
        data.read_celeba(root)
    for part in (root, "img_align_celeba", ATTR, PART, "--flagfile=demo.flags"):
        assert part in str(error.value)


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
    actual = data.preprocess(tf.constant(face), "original", size).numpy()
    # Both compute the same sums; float32 rounding of values up to 255 bounds the gap near 1e-6.
    np.testing.assert_allclose(actual, expected, atol=1e-4)


@pytest.mark.parametrize("crop, box", [("original", (40, 188, 15, 163)),
                                       ("center108", (55, 163, 35, 143))])
def test_crop_box_is_exact(crop, box):
    top, bottom, left, right = box
    inside = np.zeros((218, 178, 3), np.uint8)
    inside[top:bottom, left:right] = 255
    # A box reaching one pixel past the planted one pulls the outside into the output's edge.
    for planted, value in ((inside, 1.0), (255 - inside, -1.0)):
        out = data.preprocess(tf.constant(planted), crop, 64).numpy()
        np.testing.assert_allclose(out, value, atol=1e-5)
    # A box one pixel short on any side misses that side of a planted one-pixel frame.
    frame = np.zeros((218, 178, 3), np.uint8)
    frame[[top, bottom - 1], left:right] = 255
    frame[top:bottom, [left, right - 1]] = 255
    out = data.preprocess(tf.constant(frame), crop, 64).numpy().mean(axis=-1)
    for edge in (out[0], out[-1], out[:, 0], out[:, -1]):
        assert edge.min() > -0.8, edge.min()


@pytest.mark.parametrize("crop", ["original", "center108"])
@pytest.mark.parametrize("shape", [(218, 178, 3), (100, 80, 3), (300, 300, 3)])
def test_preprocess_shape_and_range(crop, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = data.preprocess(tf.constant(image), crop, 32)
    assert out.shape == (32, 32, 3) and out.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0


# --- make_dataset --------------------------------------------------------------------------------

def _take(dataset: tf.data.Dataset, batches: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(batches)]


def test_training_batches(synthetic_root):
    config = _config(synthetic_root)
    dataset = data.make_dataset(config, "train", training=True)
    images_spec, attributes_spec = dataset.element_spec
    assert images_spec.shape == (16, 32, 32, 3)  # static batch size: drop_remainder
    assert attributes_spec.shape == (16, 11)
    for images, attributes in _take(dataset, 8):  # 8 batches > one pass of 96 images
        assert images.dtype == np.float32 and attributes.dtype == np.float32
        assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1
        assert set(np.unique(attributes)) <= {0.0, 1.0}


def test_training_order_is_seeded_and_reshuffled(synthetic_root):
    # dataset="celeba" reads the same folder without tying it to the synthetic data's seed.
    config = _config(synthetic_root, dataset="celeba", batch_size=32)
    first = _take(data.make_dataset(config, "train", training=True), 6)  # two passes
    again = _take(data.make_dataset(config, "train", training=True), 6)
    other = _take(data.make_dataset(config.replace(seed=1), "train", training=True), 6)
    for (x, y), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert any(not np.array_equal(x, x2) for (x, _), (x2, _) in zip(first, other))
    # The second pass sees the same 96 images in another order.
    means = [np.concatenate([x for x, _ in first[p * 3:p * 3 + 3]]).mean(axis=(1, 2, 3))
             for p in (0, 1)]
    assert not np.allclose(means[0], means[1])
    np.testing.assert_allclose(np.sort(means[0]), np.sort(means[1]), atol=0.02)  # flips move pixels


def test_validation_is_finite_unshuffled_and_keeps_remainder(synthetic_root):
    config = _config(synthetic_root, batch_size=5)
    index = data.read_celeba(synthetic_root)
    dataset = data.make_dataset(config, "validation", training=False, index=index)
    batches = _take(dataset, 100)
    assert [len(x) for x, _ in batches] == [5, 5, 2]
    expected = index.attributes[index.partition == 1]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), expected)
    again = _take(dataset, 100)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]),
                                  np.concatenate([x for x, _ in again]))
    first = data.preprocess(tf.io.decode_jpeg(tf.io.read_file(
        [f for f, p in zip(index.filenames, index.partition) if p == 1][0])), "original", 32)
    np.testing.assert_allclose(batches[0][0][0], first.numpy(), atol=1e-6)


def test_attributes_stay_with_their_images(tmp_path):
    # Each image's colour encodes its two attributes: red for the first, blue for the second.
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (40, 2))
    colours = np.stack([bits[:, 0] * 255, np.full(40, 128), bits[:, 1] * 255], axis=1)
    write_layout(tmp_path, bits * 2 - 1, [0] * 36 + [1, 1, 2, 2], colours=colours)
    config = _config(str(tmp_path), dataset="celeba", batch_size=8)
    for split, training in (("train", True), ("train+val", True), ("validation", False)):
        for images, attributes in _take(data.make_dataset(config, split, training), 6):
            np.testing.assert_array_equal(images[:, :, :, [0, 2]].mean(axis=(1, 2)) > 0, attributes)


def test_make_dataset_rejects_unusable_requests(tmp_path, synthetic_root):
    with pytest.raises(DataError, match="fewer than one batch of --batch_size=128"):
        data.make_dataset(_config(synthetic_root, batch_size=128), "train", training=True)
    with pytest.raises(DataError, match="tfds is not supported yet"):
        data.make_dataset(_config(synthetic_root, dataset="tfds"), "train", training=True)
    with pytest.raises(DataError, match="--data_dir is empty"):
        data.make_dataset(_config(""), "train", training=True)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nothing"))):
        data.make_dataset(_config(str(tmp_path / "nothing"), dataset="celeba"), "train", True)


def test_attribute_names(synthetic_root):
    assert data.attribute_names(_config(synthetic_root)) == synthetic.ATTRIBUTE_NAMES


def test_synthetic_dataset_is_drawn_on_demand(tmp_path):
    root = str(tmp_path / "fresh")
    config = _config(root, synthetic_images=20, batch_size=4)
    images, attributes = next(iter(data.make_dataset(config, "train", training=True)))
    assert images.shape == (4, 32, 32, 3) and attributes.shape == (4, 11)
    assert os.path.isfile(os.path.join(root, synthetic.MANIFEST_FILE))


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    write_layout(tmp_path, np.ones((4, 1), int), [0, 0, 0, 0])
    bad = os.path.join(tmp_path, "img_align_celeba", "000003.jpg")
    with open(bad, "wb") as f:
        f.write(b"<html>not an image</html>")
    dataset = data.make_dataset(_config(str(tmp_path), dataset="celeba", batch_size=4), "train",
                                training=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="000003.jpg"):
        _take(dataset, 1)
