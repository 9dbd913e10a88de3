"""FID in InceptionV3's pool features, given local weights (--inception_weights): Keras cannot
download them here, and the project's own classifier features (evaluate.py) are not comparable
to published FIDs."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from vaegan_tf.errors import CheckpointError, DataError
from vaegan_tf.evaluation import metrics
from vaegan_tf.evaluation.inference import batched


def check_weights(weights: str) -> None:
    """A DataError naming --inception_weights unless it is a file (checked before any work)."""
    if not os.path.isfile(weights):
        raise DataError(f"--inception_weights={weights}: no such file (Keras InceptionV3 weights "
                        "cannot be downloaded here; give a local .h5 file)")


def inception_fid(weights: str, real: np.ndarray, fake: np.ndarray, batch_size: int) -> float:
    """FID: Fréchet distance of InceptionV3 pool features (images resized to 299, in [-1, 1],
    the range keras.applications.inception_v3.preprocess_input produces)."""
    check_weights(weights)
    try:
        net = keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                             input_shape=(299, 299, 3))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"--inception_weights={weights}: cannot load InceptionV3 "
                              f"(no-top) weights: {str(e).splitlines()[0]}") from None

    def feats(images):
        return batched(lambda x: net(tf.image.resize(x, (299, 299)), training=False),
                               images, batch_size)
    return metrics.frechet_distance(feats(real), feats(fake))
