"""Conditional training runs (Sec 4.2): y reaches the generated faces, on every data source."""

import json
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from conftest import offline_config
from lfw_fixtures import write_lfw
from PIL import Image

from export.saved_model import exports
from vaegan_tf.config import flat_values
from vaegan_tf import data
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import attributes, classifier, inference, sampling
from vaegan_tf.images import image_grid
from vaegan_tf.training.train import train_mode
from vaegan_tf import run_record
from vaegan_tf.workdir import Workdir

STEPS = 200
# Attributes with a large footprint in the synthetic faces' pixels, learnt within STEPS steps.
VISIBLE = ("Blond_Hair", "Pale_Skin")

# Each test trains a run of its own (one of STEPS steps, one on LFW); conditional networks and
# exports are exercised in the fast tier by test_networks.py and test_export_conditional.py.
pytestmark = pytest.mark.slow


def _recorded(workdir: str) -> dict:
    with open(os.path.join(workdir, "config.json")) as f:
        return flat_values(json.load(f))


def test_samples_conditioned_on_an_attribute_show_it(tiny_data_dir):
    """After a short conditional VAE run, faces generated with an attribute switched on are
    classified (by the attribute classifier, trained on real images) as having it more often
    than the same codes and vectors with it switched off."""
    workdir = tempfile.mkdtemp(prefix="conditional_vae_")
    config = offline_config(model="vae", conditional=True, train_steps=STEPS, batch_size=16,
                            learning_rate=2e-3, data_dir=tiny_data_dir, log_every=STEPS,
                            eval_every=STEPS, image_every=STEPS, checkpoint_every=STEPS,
                            classifier_steps=150)
    train_mode(config, workdir, verbose=0)
    config = run_record.offline_config(Workdir(workdir), config)
    model, step = inference.restored(config, workdir)
    assert step == STEPS and config.num_attributes == 11
    index = data.load_index(config)
    clf, _ = classifier.load_or_train(config, workdir, index)
    vectors = index.attributes[index.partition != 0]  # the 24 validation and test vectors
    z = np.random.default_rng(0).standard_normal((len(vectors), config.latent_dim))
    z = z.astype(np.float32)
    gains = []
    for name in VISIBLE:
        a = index.attribute_names.index(name)
        rates = []
        for value in (1.0, 0.0):
            y = vectors.copy()
            y[:, a] = value
            faces = np.asarray(model.decoder(z, attributes=y, training=False))
            rates.append(np.mean(classifier.predict_logits(clf, faces, 16)[:, a] > 0))
        assert rates[0] > rates[1], (name, rates)
        gains.append(rates[0] - rates[1])
    assert np.mean(gains) > 0.25, gains


@pytest.fixture(scope="module")
def vaegan_run(tmp_path_factory, tiny_data_dir):
    """A 2-step conditional vaegan on the tiny synthetic data: (workdir, command-line config)."""
    workdir = str(tmp_path_factory.mktemp("conditional") / "run")
    # Keras's initialisation: deeppy's smaller output-layer weights leave Dec's images within
    # one grey level of each other after 2 steps, and the sample test must tell y from 1 − y.
    config = offline_config(conditional=True, train_steps=2, data_dir=tiny_data_dir, init="glorot")
    train_mode(config, workdir, verbose=0, chief_callbacks=[exports(config.export_every)])
    return workdir, config


def test_conditional_vaegan_run_records_y_and_exports_conditional_models(vaegan_run):
    workdir, config = vaegan_run
    assert _recorded(workdir)["num_attributes"] == 11 and _recorded(workdir)["conditional"]
    assert os.path.isfile(os.path.join(workdir, "samples", "samples_0000002.png"))
    assert os.path.isfile(os.path.join(workdir, "samples", "reconstructions_0000002.png"))
    decoder = tf.saved_model.load(os.path.join(workdir, "export", "decoder", "2"))
    images = decoder.signatures["serving_default"](z=tf.zeros([2, config.latent_dim]),
                                                   attributes=tf.ones([2, 11]))["images"]
    assert images.shape == (2, 32, 32, 3)
    # Rerunning the same command finds the run finished; a wrong --num_attributes is refused.
    assert train_mode(config, workdir, verbose=0) == {}
    with pytest.raises(ConfigError, match="--num_attributes=5, but --dataset=synthetic has 11"):
        train_mode(config.replace(num_attributes=5), workdir, verbose=0)


def test_conditional_training_on_lfw_scores(tmp_path):
    write_lfw(tmp_path / "lfw")
    workdir = str(tmp_path / "run")
    config = offline_config(conditional=True, train_steps=2, dataset="lfw", crop="center150",
                            data_dir=str(tmp_path / "lfw"), batch_size=4)
    logs = train_mode(config, workdir, verbose=0)
    assert _recorded(workdir)["num_attributes"] == 73
    assert all(np.isfinite(v) for v in logs.values()) and "recon_mse" in logs


def test_sample_mode_draws_with_the_test_vectors(vaegan_run):
    workdir, config = vaegan_run
    config = run_record.offline_config(Workdir(workdir), config)
    paths = sampling.sample_mode(config, workdir)
    with Image.open(paths[0]) as im:
        prior = np.asarray(im.convert("RGB"))
    # The prior grid is Dec(z, y) for the seed's z and the test split's vectors, cycled.
    model, _ = inference.restored(config, workdir)
    _, test_y = inference.split_images(config, "test", sampling.PRIOR_SAMPLES,
                                     data.load_index(config))
    z = np.random.default_rng(config.sample_seed).standard_normal(
        (sampling.PRIOR_SAMPLES, config.latent_dim)).astype(np.float32)
    y = np.resize(test_y, (sampling.PRIOR_SAMPLES, 11))
    expected = image_grid(np.asarray(model.decoder(z, attributes=y, training=False)), cols=8)
    assert np.abs(prior.astype(int) - expected.astype(int)).max() <= 1
    other = image_grid(np.asarray(model.decoder(z, attributes=1.0 - y, training=False)), cols=8)
    assert np.abs(prior.astype(int) - other.astype(int)).max() > 1  # y matters
    with Image.open(paths[1]) as im:
        assert np.asarray(im).shape[1] == (sampling.STEPS + 2) * config.image_size
    # One row per attribute, each of SWITCHED codes off then on, drawn as attribute_switches does.
    assert os.path.basename(paths[2]) == "attribute_switches_0000002.png"
    with Image.open(paths[2]) as im:
        switches = np.asarray(im.convert("RGB"))
    n = sampling.SWITCHED
    off, on = sampling.switch_values(test_y, binary=True)
    expected = image_grid(sampling.attribute_switches(model, z[:n], test_y[:n], off, on, 8)
                          .reshape((-1,) + (config.image_size,) * 2 + (3,)), cols=2 * n)
    np.testing.assert_array_equal(
        sampling.attribute_switch_grid(model, z, test_y, True, 8), expected)
    assert switches.shape == (11 * config.image_size, 2 * n * config.image_size, 3)
    assert np.abs(switches.astype(int) - expected.astype(int)).max() <= 1
    with pytest.raises(ConfigError, match="--mode=attributes finds attribute vectors in z"):
        attributes.attributes_mode(config, workdir)
