"""Attribute vectors: planted directions recovered; --mode=attributes on a tiny trained run."""

import json
import os
import shutil

import numpy as np
import pytest
from conftest import offline_config
from PIL import Image

from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import attributes


def test_attribute_vectors_recover_planted_directions():
    rng = np.random.default_rng(0)
    n, latent = 20000, 6
    labels = (rng.random((n, 3)) < [0.5, 0.2, 0.7]).astype(np.float32)
    planted = np.zeros((3, latent))
    planted[0, 0], planted[1, 3], planted[2] = 2.0, -1.5, 0.5  # a diagonal one, too
    z = rng.normal(0, 0.3, (n, latent)) + labels @ planted
    vectors, pos, neg = attributes.attribute_vectors(z, labels)
    np.testing.assert_allclose(vectors, planted, atol=0.05)
    assert (pos + neg == n).all() and pos[1] == labels[:, 1].sum()


def test_attribute_without_positives_has_no_vector():
    vectors, pos, _ = attributes.attribute_vectors(np.ones((4, 2)), np.array([[0, 1]] * 4))
    assert np.isnan(vectors[0]).all() and pos[0] == 0
    np.testing.assert_array_equal(vectors[1], [np.nan, np.nan])  # all positive: no negatives


def test_efficacy_counts_turned_on_faces():
    # Decoder = identity, "classifier" reads attribute 0 from z[0] and attribute 1 from z[1].
    z = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    labels = (z > 0).astype(np.float32)
    probs = lambda x: 1 / (1 + np.exp(-10 * x))  # noqa: E731
    vectors = np.array([[3.0, 0.0], [0.0, 0.5]])
    scores = attributes.efficacy(lambda c: c, probs, z, labels, vectors)
    assert scores[0]["turned_on"] == 1.0 and scores[0]["baseline_on"] == 0.0
    assert scores[0]["others_change"] == pytest.approx(0.0)
    assert scores[1]["turned_on"] == 0.0  # too short to cross 0 from -1


def test_chosen_attributes():
    names = ("Bangs", "Male", "Smiling")
    assert attributes.chosen_attributes("", names) == [0, 1, 2]
    assert attributes.chosen_attributes("Smiling, Bangs", names) == [2, 0]
    with pytest.raises(ConfigError, match="--edit_attributes.*Hat"):
        attributes.chosen_attributes("Hat", names)


def test_attribute_mode_writes_vectors_grid_and_efficacy(tmp_path, tiny_runs):
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    config = config.replace(edit_attributes="Smiling,Male")
    record = attributes.attributes_mode(config, workdir)
    saved = np.load(os.path.join(workdir, "attribute_vectors.npz"))
    names = list(saved["names"])
    assert saved["vectors"].shape == (len(names), config.latent_dim) and "Smiling" in names
    assert int(saved["step"]) == 2
    with Image.open(record["grid"]) as im:
        im.load()
        assert im.size[0] == 4 * config.image_size  # input, reconstruction, +Smiling, +Male
    assert record["grid_columns"] == ["input", "reconstruction", "+Smiling", "+Male"]
    on_disk = json.load(open(os.path.join(workdir, "attribute_efficacy.json")))
    assert set(on_disk["attributes"]) == set(names)
    assert "turned_on" in attributes.format_table(record)


def test_attribute_mode_needs_an_encoder(tmp_path):
    with pytest.raises(ConfigError, match="needs an encoder"):
        attributes.attributes_mode(offline_config(model="gan"), str(tmp_path))
