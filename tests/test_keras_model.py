"""The whole model as a .keras archive: round trip, written by training and --mode=export, never
replaced by an older state."""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from export.keras_model import KERAS_FILE, saved_step, write_keras
from export.saved_model import export_mode
from vaegan_tf.errors import WriteError
from vaegan_tf.model.vaegan import VAEGAN


def _moved_statistics(model: VAEGAN) -> None:
    # Fresh BN statistics are 0 and 1 everywhere: a round trip that dropped them would still match.
    rng = np.random.default_rng(3)
    for net in model.networks.values():
        for v in net.non_trainable_variables:
            v.assign(np.asarray(v) + rng.uniform(0.1, 0.5, v.shape).astype(np.float32))


@pytest.mark.parametrize("overrides", [{}, {"model": "vae", "precision": "mixed_bfloat16"}])
def test_save_and_load_model_round_trip(tmp_path, overrides):
    config = tiny_config(seed=4, **overrides)
    model = VAEGAN(config)
    model.compile()
    _moved_statistics(model)
    model.step.assign(11)
    path = str(tmp_path / "run.keras")
    model.save(path)

    loaded = keras.models.load_model(path)
    assert isinstance(loaded, VAEGAN) and loaded.config == config
    assert int(loaded.step.numpy()) == 11 and loaded.compiled
    assert sorted(loaded.networks) == sorted(model.networks)
    for name, net in model.networks.items():
        mine = {v.path: np.asarray(v) for v in net.variables}
        theirs = {v.path: np.asarray(v) for v in loaded.networks[name].variables}
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            np.testing.assert_array_equal(theirs[key], value, err_msg=key)

    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    z = np.random.default_rng(1).standard_normal((4, config.latent_dim)).astype(np.float32)
    for a, b in zip(loaded.encoder(x), model.encoder(x)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(loaded.decoder(z)), np.asarray(model.decoder(z)))
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_training_writes_a_keras_model_that_decodes_like_the_saved_model(tiny_runs):
    workdir, config = tiny_runs("vaegan")
    path = os.path.join(workdir, "export", KERAS_FILE)
    assert saved_step(path) == config.train_steps
    loaded = keras.models.load_model(path)
    served = tf.saved_model.load(os.path.join(workdir, "export", "decoder", str(config.train_steps)))
    z = np.random.default_rng(2).standard_normal((3, config.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(served.signatures["serving_default"](z=z)["images"],
                               loaded.decoder(z, training=False), atol=1e-5)


def test_an_older_state_never_replaces_a_newer_file(tmp_path, tiny_runs):
    workdir, config = tiny_runs("vaegan")
    copy = str(tmp_path / "run")
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("tensorboard", "samples"))
    path = os.path.join(copy, "export", KERAS_FILE)
    os.remove(path)
    newer = VAEGAN(tiny_config(seed=9))
    newer.step.assign(9)
    assert write_keras(newer, os.path.join(copy, "export")) == path
    before = open(path, "rb").read()

    written = export_mode(copy)  # step 2 < 9
    assert written["keras"] is None and open(path, "rb").read() == before
    assert saved_step(path) == 9

    # A file that is not a Keras archive holds no step: the export replaces it.
    with open(path, "wb") as f:
        f.write(b"not a zip")
    assert saved_step(path) is None
    assert export_mode(copy)["keras"] == path
    assert saved_step(path) == config.train_steps
    assert keras.models.load_model(path).config.model == "vaegan"


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    import errno
    model = VAEGAN(tiny_config())
    export_dir = str(tmp_path / "export")
    assert write_keras(model, export_dir) == os.path.join(export_dir, KERAS_FILE)
    before = open(os.path.join(export_dir, KERAS_FILE), "rb").read()
    model.step.assign(5)
    save = model.save

    def full_disk(path, *args, **kwargs):  # half an archive, then the disk is full
        save(path, *args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    model.save = full_disk
    with pytest.raises(WriteError, match=r"cannot write \S*export/vaegan.keras: No space left"):
        write_keras(model, export_dir)
    assert os.listdir(export_dir) == [KERAS_FILE]  # the half archive is gone
    assert open(os.path.join(export_dir, KERAS_FILE), "rb").read() == before
