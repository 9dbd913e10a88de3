"""The attribute classifier: Enc's architecture with one logit per attribute, trained by the project.

It gives the offline modes a feature space that knows about faces without Inception weights (which
cannot be downloaded here): its penultimate layer (Enc's FC, after BN and ReLU) is where
`fd_attr`/`kid_attr` are measured, and its logits judge whether an attribute vector turned an
attribute on. It is trained once on the training split with a sigmoid cross-entropy per attribute
and cached in `classifier_dir` with a JSON description; a cached classifier is reused only when
that description matches, so one can be shared across runs on the same data (--classifier_dir).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import keras
import numpy as np
from absl import logging

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.errors import CheckpointError
from vaegan_tf.networks import _bn, _conv

WEIGHTS_FILE = "classifier.weights.h5"
INFO_FILE = "classifier.json"
SEED = 0  # fixed, so runs with different --seed can share one classifier
LEARNING_RATE = 1e-3


class AttributeClassifier(keras.Model):
    """Enc's layers (conv 1x↓, 2x↓, 4x↓ with BN+ReLU, FC with BN+ReLU) and a linear head of
    `num_attributes` logits. `features(x)` is the FC activation [B, fc_width]."""

    def __init__(self, num_attributes: int, width: int = 64, fc_width: int = 2048, **kwargs):
        super().__init__(**kwargs)
        self.convs = [_conv(width * m, 2, f"conv{i}", "glorot") for i, m in enumerate((1, 2, 4), 1)]
        self.conv_bns = [_bn(f"conv{i}_bn") for i in range(1, 4)]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.fc = keras.layers.Dense(fc_width, use_bias=False, name="fc")
        self.fc_bn = _bn("fc_bn")
        self.head = keras.layers.Dense(num_attributes, name="logits")

    def features(self, x, training=False):
        for conv, bn in zip(self.convs, self.conv_bns):
            x = keras.ops.relu(bn(conv(x), training=training))
        return keras.ops.relu(self.fc_bn(self.fc(self.flatten(x)), training=training))

    def call(self, x, training=False):
        return self.head(self.features(x, training=training))


def classifier_dir(config: Config, workdir: str) -> str:
    return config.classifier_dir or os.path.join(workdir, "classifier")


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


def train_classifier(config: Config, index: data.CelebAIndex) -> AttributeClassifier:
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
    return np.concatenate([np.asarray(model(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


def predict_features(model: AttributeClassifier, images: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([np.asarray(model.features(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])


def cached_model(folder: str, flag: str, wanted: dict, model: keras.Model,
                 train: Callable[[], keras.Model], what: str,
                 describe: Callable[[keras.Model], dict] | None = None) -> tuple[keras.Model, dict]:
    """A model trained once and cached in `folder` as weights plus a JSON description.

    `model` is a built, untrained instance. When the folder holds a cached model whose recorded
    description agrees with `wanted`, its weights are loaded into `model`; a disagreeing one is an
    error naming the field and `flag` (the folder's command-line flag), so a cache shared between
    runs is never overwritten. Otherwise `train()` gives a trained model, cached with `wanted`
    plus whatever `describe(trained)` adds. Returns the model and its description.
    """
    info_path, weights_path = os.path.join(folder, INFO_FILE), os.path.join(folder, WEIGHTS_FILE)
    if os.path.isfile(info_path) and os.path.isfile(weights_path):
        try:
            with open(info_path) as f:
                info = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"cannot read {info_path}: {e}") from None
        for key, value in wanted.items():
            if info.get(key) != value:
                raise CheckpointError(
                    f"{flag}={folder} holds a cached {what} with {key}={info.get(key)!r}, "
                    f"not {value!r}; use another {flag} (or delete that folder)")
        try:
            model.load_weights(weights_path)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot load {weights_path}: {e}") from None
        logging.info("%s loaded from %s", what.capitalize(), folder)
        return model, info

    trained = train()
    info = dict(wanted)
    if describe is not None:
        info.update(describe(trained))
    os.makedirs(folder, exist_ok=True)
    trained.save_weights(weights_path + ".tmp.weights.h5")
    os.replace(weights_path + ".tmp.weights.h5", weights_path)
    with open(info_path + ".tmp", "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    os.replace(info_path + ".tmp", info_path)
    return trained, info


def load_or_train(config: Config, workdir: str, index: data.CelebAIndex,
                  test: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[AttributeClassifier, dict]:
    """The cached classifier for this config's data, training and caching it first if needed.

    Returns the model and its description (with `test_accuracy` per attribute when `test` images
    and their 0/1 labels, data.present, were given at training time). A cached classifier whose description differs is an
    error naming the field: pass another --classifier_dir rather than overwrite a shared one.
    """
    folder = classifier_dir(config, workdir)
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

    return cached_model(folder, "--classifier_dir", description(config, index.attribute_names),
                        model, train, "attribute classifier", describe)
