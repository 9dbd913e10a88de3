"""The attribute classifier: Enc's architecture with one logit per attribute, trained by the project.

It gives the offline modes a feature space that knows about faces without Inception weights (which
cannot be downloaded here): its penultimate layer (Enc's FC, after BN and ReLU) is where
`fd_attr`/`kid_attr` are measured, and its logits judge whether an attribute vector turned an
attribute on. It is trained once on the training split with a sigmoid cross-entropy per attribute
and cached in `classifier_dir` with a JSON description; a cached classifier is reused only when
that description matches, so one can be shared across runs on the same data (--classifier_dir).
"""

from __future__ import annotations

import os

import keras
import numpy as np
from absl import logging

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.evaluation.cached_model import cached_model
from vaegan_tf.evaluation.inference import batched
from vaegan_tf.model.layers import batch_norm, conv
from vaegan_tf.workdir import Workdir

SEED = 0  # fixed, so runs with different --seed can share one classifier
LEARNING_RATE = 1e-3


class AttributeClassifier(keras.Model):
    """Enc's layers (conv 1x↓, 2x↓, 4x↓ with BN+ReLU, FC with BN+ReLU) and a linear head of
    `num_attributes` logits. `features(x)` is the FC activation [B, fc_width]."""

    def __init__(self, num_attributes: int, width: int = 64, fc_width: int = 2048, **kwargs):
        super().__init__(**kwargs)
        self.convs = [conv(width * m, 2, f"conv{i}", "glorot") for i, m in enumerate((1, 2, 4), 1)]
        self.conv_bns = [batch_norm(f"conv{i}_bn") for i in range(1, 4)]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc = keras.layers.Dense(fc_width, use_bias=False, name="fc")
        self.fc_bn = batch_norm("fc_bn")
        self.head = keras.layers.Dense(num_attributes, name="logits")

    def features(self, x, training=False):
        for layer, bn in zip(self.convs, self.conv_bns):
            x = keras.ops.relu(bn(layer(x), training=training))
        return keras.ops.relu(self.fc_bn(self.fc(self.flatten(x)), training=training))

    def call(self, x, training=False):
        return self.head(self.features(x, training=training))


def classifier_dir(config: Config, run: str | Workdir) -> str:
    return config.classifier_dir or Workdir.of(run).classifier


def description(config: Config, names: tuple[str, ...]) -> dict:
    """What must match for a cached classifier to be reused: the data it saw and its shape."""
    return {"dataset": config.dataset, "data_dir": os.path.abspath(config.data_dir),
            "synthetic_images": config.synthetic_images if config.dataset == "synthetic" else None,
            "crop": config.crop, "image_size": config.image_size, "attributes": list(names),
            "width": config.enc_width, "fc_width": config.fc_width,
            "steps": config.classifier_steps, "batch_size": config.batch_size,
            # LFW's scores are labelled by sign (data.present); earlier caches saw raw scores.
            **({"labels": f"present above {data.PRESENT_ABOVE[config.dataset]}"}
               if config.dataset in data.PRESENT_ABOVE else {})}


def train_classifier(config: Config, index: data.ImageIndex) -> AttributeClassifier:
    """Trains for config.classifier_steps steps on the training split (flipped, shuffled)."""
    keras.utils.set_random_seed(SEED)
    model = AttributeClassifier(len(index.attribute_names), config.enc_width, config.fc_width,
                                name="classifier")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    ds = data.make_dataset(config.replace(seed=SEED), "train", training=True, index=index)
    ds = ds.map(lambda images, attributes: (images, data.present(config, attributes)))
    model.fit(ds, steps_per_epoch=config.classifier_steps, epochs=1, verbose=0)
    return model


def accuracy(model: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
             batch_size: int) -> np.ndarray:
    """Per-attribute accuracy [A] of logit > 0 against 0/1 labels (data.present)."""
    logits = predict_logits(model, images, batch_size)
    return np.mean((logits > 0) == (labels > 0.5), axis=0)


def predict_logits(model: AttributeClassifier, images: np.ndarray, batch_size: int) -> np.ndarray:
    return batched(lambda x: model(x, training=False), images, batch_size)


def predict_features(model: AttributeClassifier, images: np.ndarray, batch_size: int) -> np.ndarray:
    return batched(lambda x: model.features(x, training=False), images, batch_size)


def load_or_train(config: Config, run: str | Workdir, index: data.ImageIndex,
                  test: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[AttributeClassifier, dict]:
    """The cached classifier for this config's data, training and caching it first if needed.

    Returns the model and its description (with `test_accuracy` per attribute when `test` images
    and their 0/1 labels, data.present, were given at training time). A cached classifier whose description differs is an
    error naming the field: pass another --classifier_dir rather than overwrite a shared one.
    """
    folder = classifier_dir(config, run)
    model = AttributeClassifier(len(index.attribute_names), config.enc_width, config.fc_width,
                                name="classifier")
    model(np.zeros((1, config.image_size, config.image_size, 3), np.float32))

    def train() -> AttributeClassifier:
        logging.info("Training the attribute classifier for %d steps into %s",
                     config.classifier_steps, folder)
        return train_classifier(config, index)

    def describe(trained: AttributeClassifier) -> dict:
        if test is None:
            return {}
        acc = accuracy(trained, test[0], test[1], config.batch_size)
        return {"test_accuracy": {n: float(a) for n, a in zip(index.attribute_names, acc)},
                "test_accuracy_mean": float(acc.mean())}

    return cached_model(folder, "classifier", "--classifier_dir",
                        description(config, index.attribute_names), model, train,
                        "attribute classifier", describe)
