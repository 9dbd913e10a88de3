"""Labelled images from a prepared TFDS dataset (e.g. cifar10, mnist) for evaluation's k-NN
(--knn_dataset); nothing is ever downloaded."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vaegan_tf.errors import DataError


def tfds_labelled(name: str, data_dir: str, split: str, image_size: int,
                  limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, S, S, 3] in [-1, 1], int labels [N]) of a prepared TFDS dataset; never downloads."""
    import tensorflow_datasets as tfds  # slow to import; only this path needs it
    where = data_dir or "TFDS's default data_dir"
    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # unknown names raise DatasetNotFoundError and friends
        raise DataError(f"--knn_dataset={name}: not a TFDS dataset ({str(e).splitlines()[0]})") from None
    try:
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    except Exception as e:
        raise DataError(
            f"--knn_dataset={name}: no prepared data under {where} ({str(e).splitlines()[0][:200]}); "
            f"it cannot be downloaded here: run `tfds build {name} --data_dir=DIR` where there is "
            f"internet and pass --knn_data_dir=DIR") from None
    images, labels = [], []
    for image, label in ds.take(limit):
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size), antialias=True)
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        images.append(np.clip(image.numpy(), 0, 255) / 127.5 - 1.0)
        labels.append(int(label))
    if not images:
        raise DataError(f"--knn_dataset={name}: split {split} under {where} is empty")
    return np.stack(images).astype(np.float32), np.array(labels)
