"""Tests of the tf.data pipeline: order, seeds, alignment, caches, corrupt files, sharding."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import tensorflow as tf
from celeba_fixtures import write_csv_layout, write_layout
from conftest import NUM_SYNTHETIC

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.data import cache, celeba, corrupt, preprocess, synthetic
from vaegan_tf.errors import DataError


def _config(root: str, **changes) -> Config:
    values = dict(dataset="synthetic", data_dir=root, synthetic_images=NUM_SYNTHETIC, seed=0,
                  batch_size=16, image_size=32)
    return Config(**(values | changes))


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
    assert len(first) == len(again) == len(other) == 6
    for (x, y), (x2, y2) in zip(first, again, strict=True):
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
    index = celeba.read_celeba(synthetic_root)
    dataset = data.make_dataset(config, "validation", training=False, index=index)
    batches = _take(dataset, 100)
    assert [len(x) for x, _ in batches] == [5, 5, 2]
    expected = index.attributes[index.partition == 1]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), expected)
    again = _take(dataset, 100)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]),
                                  np.concatenate([x for x, _ in again]))
    first = preprocess.preprocess(tf.io.decode_jpeg(tf.io.read_file(
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
    with pytest.raises(DataError, match="TFDS celeb_a is not prepared .* lacks img_align_celeba.zip"):
        data.make_dataset(_config(str(tmp_path / "tfds"), dataset="tfds"), "train", training=True)
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


def _truncate(path: str) -> None:
    with open(path, "rb") as f:
        contents = f.read()
    with open(path, "wb") as f:
        f.write(contents[:len(contents) // 2])


def _colour_layout(root, n: int = 24, csv: bool = False) -> np.ndarray:
    """Images whose red and blue encode their two attributes, all in the training split."""
    bits = np.random.default_rng(0).integers(0, 2, (n, 2))
    colours = np.stack([bits[:, 0] * 255, np.full(n, 128), bits[:, 1] * 255], axis=1)
    writer = write_csv_layout if csv else write_layout
    writer(root, bits * 2 - 1, [0] * (n - 4) + [1, 1, 2, 2], colours=colours)
    return bits


def test_csv_layout_through_the_pipeline(tmp_path):
    _colour_layout(tmp_path, csv=True)
    config = _config(str(tmp_path), dataset="celeba", batch_size=4)
    for split, training in (("train", True), ("test", False)):
        for images, attributes in _take(data.make_dataset(config, split, training), 3):
            np.testing.assert_array_equal(images[:, :, :, [0, 2]].mean(axis=(1, 2)) > 0, attributes)


@pytest.mark.parametrize("cache_mode", ["none", "memory", "file"])
def test_truncated_jpeg_stops_naming_the_file(tmp_path, cache_mode):
    _colour_layout(tmp_path / "d")
    _truncate(str(tmp_path / "d" / "img_align_celeba" / "000005.jpg"))
    config = _config(str(tmp_path / "d"), dataset="celeba", batch_size=4, cache=cache_mode,
                     cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"img_align_celeba/000005.jpg is a corrupt.*--skip_corrupt"):
        with corrupt.raise_data_errors():
            _take(data.make_dataset(config, "train", training=True), 8)
    if cache_mode == "file":  # no half-built cache is left behind
        assert os.listdir(tmp_path / "cache") == []


@pytest.mark.parametrize("cache_mode", ["none", "file"])
def test_skip_corrupt_skips_counts_and_remembers(tmp_path, cache_mode):
    bits = _colour_layout(tmp_path / "d")
    images_dir = tmp_path / "d" / "img_align_celeba"
    _truncate(str(images_dir / "000005.jpg"))
    (images_dir / "000007.jpg").write_bytes(b"<html>not an image</html>")
    config = _config(str(tmp_path / "d"), dataset="celeba", batch_size=4, skip_corrupt=True,
                     cache=cache_mode, cache_dir=str(tmp_path / "cache"))
    for _ in range(2):  # the second time from the cache, which remembers what it skipped
        skipped = data.CorruptImages()
        dataset = data.make_dataset(config, "train", training=False, corrupt=skipped)
        attributes = np.concatenate([y for _, y in _take(dataset, 100)])
        keep = np.delete(np.arange(20), [4, 6])
        np.testing.assert_array_equal(attributes, bits[keep])
        assert skipped.count == 2
        assert [os.path.basename(n) for n in skipped.names()] == ["000005.jpg", "000007.jpg"]


@pytest.mark.slow  # decodes two splits three times and trains from the cache
def test_file_cache_matches_decoding_and_is_reused(tmp_path, synthetic_root):
    base = _config(synthetic_root, dataset="celeba", batch_size=8)
    cached = base.replace(cache="file", cache_dir=str(tmp_path / "cache"))
    for split in ("validation", "train+val"):
        expected = _take(data.make_dataset(base.replace(cache="none"), split, False), 100)
        for _ in range(2):
            actual = _take(data.make_dataset(cached, split, False), 100)
            # Every batch of the split: 12 or 108 images in batches of 8, the last one short.
            assert len(actual) == len(expected) == {"validation": 2, "train+val": 14}[split]
            for (x, y), (x2, y2) in zip(expected, actual, strict=True):
                np.testing.assert_array_equal(x, x2)
                np.testing.assert_array_equal(y, y2)
    folders = sorted(os.listdir(tmp_path / "cache"))
    assert len(folders) == 2 and not any(".tmp" in f for f in folders)
    manifest = cache._read_manifest(str(tmp_path / "cache" / folders[0]))
    assert manifest["images"] in (12, 108)
    # Training from the cache: seeded, reshuffled, flipped, full batches.
    first = _take(data.make_dataset(cached, "train", True), 14)
    again = _take(data.make_dataset(cached, "train", True), 14)
    assert len(first) == len(again) == 14
    for (x, _), (x2, _) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, x2)
    assert first[0][0].shape == (8, 32, 32, 3)


@pytest.mark.slow  # three passes, two augmented
def test_augmented_training_is_seeded(synthetic_root):
    config = _config(synthetic_root, dataset="celeba", augment=True)
    first = _take(data.make_dataset(config, "train", training=True), 3)
    again = _take(data.make_dataset(config, "train", training=True), 3)
    plain = _take(data.make_dataset(config.replace(augment=False), "train", training=True), 3)
    assert len(first) == len(again) == len(plain) == 3
    for (x, _), (x2, _), (x3, _) in zip(first, again, plain, strict=True):
        np.testing.assert_array_equal(x, x2)
        assert not np.array_equal(x, x3) and x.min() >= -1 and x.max() <= 1


def test_workers_read_disjoint_shares(synthetic_root):
    config = _config(synthetic_root, dataset="celeba", batch_size=8)
    seen = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=2)
        dataset = data.make_dataset(config, "validation", False, input_context=context)
        batches = _take(dataset, 100)
        assert max(len(x) for x, _ in batches) == 4  # the per-replica batch
        seen.append({x.tobytes() for images, _ in batches for x in images})
    assert len(seen[0]) == len(seen[1]) == 6 and not seen[0] & seen[1]
