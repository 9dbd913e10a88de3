"""The attribute classifier: Enc's architecture, trained briefly, cached with a config check."""

import numpy as np
import pytest
from conftest import offline_config

from vaegan_tf import data
from vaegan_tf.errors import CheckpointError
from vaegan_tf.evaluation import classifier
from vaegan_tf.model.networks import Encoder


def test_classifier_has_encoders_trunk():
    clf = classifier.AttributeClassifier(5, width=8, fc_width=32)
    x = np.zeros((2, 32, 32, 3), np.float32)
    assert clf(x).shape == (2, 5) and clf.features(x).shape == (2, 32)
    enc = Encoder(latent_dim=4, width=8, fc_width=32)
    enc(x)
    trunk = lambda m: [tuple(w.shape) for w in m.weights if not w.path.split("/")[-2].startswith(  # noqa: E731
        ("mean", "log_var", "logits"))]
    assert trunk(clf) == trunk(enc)


@pytest.mark.slow  # trains a classifier (test_evaluate's evaluation trains one too)
def test_trained_once_then_loaded_and_checked(tmp_path, tiny_data_dir):
    config = offline_config(data_dir=tiny_data_dir, classifier_dir=str(tmp_path / "clf"))
    index = data.load_index(config)
    test = (np.zeros((4, 32, 32, 3), np.float32), np.zeros((4, len(index.attribute_names)), np.float32))
    first, info = classifier.load_or_train(config, str(tmp_path), index, test=test)
    assert set(info["test_accuracy"]) == set(index.attribute_names)
    again, info2 = classifier.load_or_train(config, str(tmp_path), index)
    for a, b in zip(first.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert info2 == info
    with pytest.raises(CheckpointError, match="image_size"):
        classifier.load_or_train(config.replace(image_size=16), str(tmp_path), index)
