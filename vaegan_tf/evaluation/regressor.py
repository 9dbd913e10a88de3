"""The attribute regressor of the Table 2 protocol (Sec 4.2): Enc's architecture, predicting y.

It is the attribute classifier's network (classifier.AttributeClassifier: Enc's convolutions and FC
layer with one linear output per attribute) trained instead with a mean squared error to output
the attribute vector itself. It is trained once on the training split and cached in
`regressor_dir` (default WORKDIR/regressor) exactly as the classifier is cached, reused only when
its recorded description (data, architecture, steps) matches.

Its targets are the vectors the Table 2 metrics compare (`targets`): LFW's real-valued scores as
they are (positive: attribute present), and the binary attributes of CelebA, its TFDS copy and the
synthetic data as ±1, CelebA's own file encoding, rather than the pipeline's 0/1, so that cosine
similarity measures agreement on absent attributes too.
"""

from __future__ import annotations

import keras
import numpy as np
from absl import logging

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.evaluation import classifier
from vaegan_tf.evaluation.cached_model import cached_model
from vaegan_tf.evaluation.classifier import AttributeClassifier
from vaegan_tf.evaluation.inference import batched
from vaegan_tf.workdir import Workdir

SEED = 0  # fixed, so runs with different --seed can share one regressor
LEARNING_RATE = 1e-3


def signed_targets(config: Config) -> bool:
    """True when the dataset's attributes are binary 0/1 (all but LFW), compared as ±1."""
    return config.binary_attributes


def targets(attributes, signed: bool):
    """The vectors Table 2 compares: 2y − 1 (±1) for binary 0/1 attributes, else y unchanged."""
    return 2.0 * attributes - 1.0 if signed else attributes


def regressor_dir(config: Config, run: str | Workdir) -> str:
    return config.regressor_dir or Workdir.of(run).regressor


def description(config: Config, names: tuple[str, ...]) -> dict:
    """What must match for a cached regressor to be reused (the classifier's fields and more)."""
    return {**classifier.description(config, names), "steps": config.regressor_steps,
            "model": "attribute_regressor",
            "targets": "signed" if signed_targets(config) else "scores"}


def new_regressor(config: Config, num_attributes: int) -> AttributeClassifier:
    """An untrained regressor with its variables built for config.image_size."""
    model = AttributeClassifier(num_attributes, config.enc_width, config.fc_width,
                                name="regressor")
    model(np.zeros((1, config.image_size, config.image_size, 3), np.float32))
    return model


def train_regressor(config: Config, index: data.Index) -> AttributeClassifier:
    """config.regressor_steps Adam steps of the mean squared error on the training split."""
    keras.utils.set_random_seed(SEED)
    model = new_regressor(config, len(index.attribute_names))
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss=keras.losses.MeanSquaredError())
    signed = signed_targets(config)
    ds = data.make_dataset(config.replace(seed=SEED), "train", training=True, index=index)
    ds = ds.map(lambda x, y: (x, targets(y, signed)))
    model.fit(ds, steps_per_epoch=config.regressor_steps, epochs=1, verbose=0)
    return model


def predict(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The regressor's attribute vectors [N, A] for images [N, S, S, 3] in [-1, 1]."""
    return batched(lambda x: model(x, training=False), images, batch_size)


def load_or_train(config: Config, run: str | Workdir, index: data.Index
                  ) -> tuple[AttributeClassifier, dict]:
    """The cached regressor for this config's data, training and caching it first if needed.

    A cached regressor whose description differs is an error naming the field: pass another
    --regressor_dir rather than overwrite a shared one.
    """
    folder = regressor_dir(config, run)

    def train() -> AttributeClassifier:
        logging.info("Training the attribute regressor for %d steps into %s",
                     config.regressor_steps, folder)
        return train_regressor(config, index)

    return cached_model(folder, "regressor", "--regressor_dir",
                        description(config, index.attribute_names),
                        new_regressor(config, len(index.attribute_names)), train,
                        "attribute regressor")
