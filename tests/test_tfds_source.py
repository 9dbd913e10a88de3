"""Tests of --dataset=tfds on TFDS mock data: the same (image, 40 attributes) as the files give."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.data import preprocess, tfds_source
from vaegan_tf.data.celeba import ATTRIBUTES
from vaegan_tf.errors import DataError


def _config(root: str, **changes) -> Config:
    values = dict(dataset="tfds", data_dir=root, batch_size=4, image_size=32, seed=0)
    return Config(**(values | changes))


def test_tfds_batches_match_the_shared_preprocessing(tmp_path):
    config = _config(str(tmp_path))
    manual = tmp_path / "downloads" / "manual"  # TFDS's default manual folder
    manual.mkdir(parents=True)
    for name in tfds_source.MANUAL_FILES:  # mock_data replaces their checks and the preparation
        (manual / name).write_bytes(b"")
    with tfds.testing.mock_data(num_examples=12):
        index = data.load_index(config)
        assert index.attribute_names == ATTRIBUTES
        raw = list(tfds_source.examples(index, "validation", training=False, seed=0))
        batches = list(data.make_dataset(config, "validation", training=False, index=index))
        train = list(data.make_dataset(config, "train+val", training=True, index=index).take(2))
        again = list(data.make_dataset(config, "train+val", training=True, index=index).take(2))
    images = np.concatenate([x.numpy() for x, _ in batches])
    attributes = np.concatenate([y.numpy() for _, y in batches])
    assert images.shape == (12, 32, 32, 3) and attributes.shape == (12, 40)
    for (encoded, name, attrs), image, row in zip(raw, images, attributes):
        expected = preprocess.preprocess(tf.io.decode_jpeg(encoded, channels=3), "original", 32)
        np.testing.assert_allclose(image, expected.numpy(), atol=1e-6)
        np.testing.assert_array_equal(row, attrs.numpy())
    assert set(np.unique(attributes)) <= {0.0, 1.0}
    assert train[0][0].shape == (4, 32, 32, 3)
    for (x, _), (x2, _) in zip(train, again):
        np.testing.assert_array_equal(x.numpy(), x2.numpy())


def test_unprepared_tfds_names_the_manual_folder(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "list_attr_celeba.txt").write_text("1\n")
    with pytest.raises(DataError, match=rf"{manual} lacks img_align_celeba.zip, "
                                        r"list_eval_partition.txt"):
        data.load_index(_config(str(tmp_path / "tfds"), tfds_manual_dir=str(manual)))
