"""The page's computations on tiny trained runs: shapes, the same pictures for the same seed,
temperature 0, reconstructions, paths, attribute edits and conditional draws."""


import numpy as np
import pytest
from conftest import copy_with_vectors, offline_config

from vaegan_tf.app.backend import Backend
from vaegan_tf.errors import CheckpointError, ConfigError, DataError
from vaegan_tf.training.train import train_mode

S = 32


@pytest.fixture(scope="module")
def vaegan(tmp_path_factory, tiny_runs):
    """A copy of the tiny vaegan with two attribute vectors written into it."""
    workdir, config, vectors = copy_with_vectors(tmp_path_factory, tiny_runs, "app_backend",
                                                 ("Smiling", "Male"), seed=0)
    return Backend.load(config, workdir), vectors


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, tiny_data_dir):
    workdir = str(tmp_path_factory.mktemp("app_conditional") / "run")
    config = offline_config(conditional=True, train_steps=2, data_dir=tiny_data_dir, init="glorot")
    train_mode(config, workdir, verbose=0)
    return Backend.load(config.replace(num_attributes=11), workdir)


def test_prior_samples_are_a_grid_fixed_by_the_seed(vaegan):
    backend, _ = vaegan
    first = backend.samples(1, 1.0)
    assert first.shape == (8 * S, 8 * S, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(backend.samples(1, 1.0), first)
    # Two training steps leave the pictures close to grey: they differ, slightly.
    assert (backend.samples(2, 1.0) != first).any()


def test_temperature_zero_gives_one_picture_64_times(vaegan):
    backend, _ = vaegan
    tiles = backend.samples(5, 0.0).reshape(8, S, 8, S, 3).transpose(0, 2, 1, 3, 4)
    tiles = tiles.reshape(64, S, S, 3)
    assert (tiles == tiles[0]).all()
    assert backend.samples(5, 0.5).reshape(8, S, 8, S, 3).std(axis=(0, 2)).max() > 0
    np.testing.assert_allclose(backend.codes(3, 0.5, 4), 0.5 * backend.codes(3, 1.0, 4),
                               rtol=1e-6)


@pytest.mark.parametrize("seed,temperature,needle", [
    (-1, 1.0, "seed"), (2**32, 1.0, "seed"), (1.5, 1.0, "seed"), (None, 1.0, "seed"),
    (0, -0.1, "temperature"), (0, 3.5, "temperature"), (0, None, "temperature")])
def test_bad_seeds_and_temperatures_are_refused(vaegan, seed, temperature, needle):
    with pytest.raises(ConfigError, match=f"^{needle}: "):
        vaegan[0].samples(seed, temperature)


def test_reconstruction_interpolation_and_test_images(vaegan):
    backend, _ = vaegan
    assert backend.test_images.shape == (12, S, S, 3)  # the tiny data's whole test split
    a, b = backend.test_image(1), backend.test_image(2)
    code, picture = backend.reconstruct(a)
    assert code.shape == (backend.config.latent_dim,) and picture.shape == (S, S, 3)
    np.testing.assert_array_equal(code, backend.encode(a))
    row = backend.interpolate(a, b)
    assert row.shape == (S, 10 * S, 3)
    tiles = row.reshape(S, 10, S, 3).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(tiles[0], np.round((a + 1) * 127.5).astype(np.uint8))
    np.testing.assert_array_equal(tiles[1], picture)  # t = 0 decodes a's own code
    for number in (0, 13, None):
        with pytest.raises(DataError, match="pick one from 1 to 12"):
            backend.test_image(number)


def test_attribute_edits_add_the_vectors_and_zero_is_the_reconstruction(vaegan):
    backend, vectors = vaegan
    assert backend.vectors.names == ("Smiling", "Male")
    code, picture = backend.reconstruct(backend.test_image(3))
    np.testing.assert_array_equal(backend.edit(code, [0.0, 0.0]), picture)
    edited = backend.edit(code, [1.5, 0.0])
    np.testing.assert_array_equal(edited, backend.picture(code + 1.5 * vectors[0]))
    assert (edited != picture).any()
    with pytest.raises(ConfigError, match="2 values, got 3"):
        backend.edit(code, [0, 0, 0])


def test_a_gan_reads_no_picture(tiny_runs):
    workdir, config = tiny_runs("gan")
    backend = Backend.load(config, workdir)
    assert not backend.has_encoder and backend.vectors is None
    with pytest.raises(ConfigError, match="--model=gan has no encoder"):
        backend.encode(np.zeros((S, S, 3), np.float32))


def test_a_run_without_vectors_says_why(tiny_runs):
    workdir, config = tiny_runs("vaegan")
    backend = Backend.load(config, workdir)
    assert backend.vectors is None and "attribute_vectors.npz does not exist" in \
        backend.vectors_problem
    with pytest.raises(ConfigError, match="no attribute vectors: .*does not exist"):
        backend.edit(np.zeros(config.latent_dim), [])


def test_missing_test_data_leaves_uploads(tiny_runs, tmp_path):
    workdir, config = tiny_runs("vaegan")
    backend = Backend.load(config.replace(data_dir=str(tmp_path / "gone"),
                                          dataset="celeba"), workdir)
    assert backend.test_images is None and str(tmp_path / "gone") in backend.test_problem
    with pytest.raises(DataError, match="no test images: "):
        backend.test_image(1)


def test_no_run_or_no_checkpoint_is_a_checkpoint_error(tiny_runs, tmp_path):
    _, config = tiny_runs("vaegan")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        Backend.load(config, str(tmp_path))


def test_conditional_draws_follow_the_ticked_attributes(conditional):
    backend = conditional
    assert len(backend.attribute_names) == 11
    none, blond = [False] * 11, [False] * 11
    blond[backend.attribute_names.index("Blond_Hair")] = True
    plain = backend.draws(none, 0, 1.0)
    assert plain.shape == (4 * S, 4 * S, 3)
    np.testing.assert_array_equal(backend.draws(none, 0, 1.0), plain)
    assert np.abs(backend.draws(blond, 0, 1.0).astype(int) - plain).mean() > 0.5
    np.testing.assert_array_equal(backend.attribute_values(blond), np.float32(blond))
    with pytest.raises(ConfigError, match="11 boxes, got 2"):
        backend.attribute_values([True, False])
    y = backend.attribute_values(blond)
    code, picture = backend.reconstruct(backend.test_image(1), y)
    assert picture.shape == (S, S, 3)
