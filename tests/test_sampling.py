"""--mode=sample: prior and interpolation grids, reproducible for a seed."""

import os
import shutil

import numpy as np
from PIL import Image

from vaegan_tf.evaluation import sampling


def test_interpolate_endpoints_and_midpoint():
    path = sampling.interpolate(np.zeros(3, np.float32), np.ones(3, np.float32), 5)
    np.testing.assert_allclose(path[[0, 2, 4]], [[0] * 3, [0.5] * 3, [1] * 3])


class _Planted:
    """A 'model' whose Dec(z, y) is an image whose first pixels hold y and z: what went in."""

    @staticmethod
    def decoder(z, attributes, training):
        assert training is False
        flat = np.concatenate([attributes, z], axis=-1)
        image = np.zeros((len(z), 4, 4, 3), np.float32)
        image.reshape(len(z), -1)[:, :flat.shape[1]] = flat
        return image


def test_attribute_switches_change_only_the_asked_attribute_with_the_same_code():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, (3, 5)).astype(np.float32)  # 3 codes' vectors, 5 attributes
    z = rng.standard_normal((3, 2)).astype(np.float32)
    off, on = sampling.switch_values(base, binary=True)
    np.testing.assert_array_equal(off, 0)
    np.testing.assert_array_equal(on, 1)
    images = sampling.attribute_switches(_Planted(), z, base, off, on, batch_size=4)
    assert images.shape == (5, 3, 2, 4, 4, 3)
    drawn = images.reshape(5, 3, 2, -1)
    for a in range(5):
        for p in range(3):
            y_off, y_on = drawn[a, p, 0, :5], drawn[a, p, 1, :5]
            assert y_off[a] == 0 and y_on[a] == 1
            others = [i for i in range(5) if i != a]
            np.testing.assert_array_equal(y_off[others], base[p, others])
            np.testing.assert_array_equal(y_on[others], base[p, others])
            np.testing.assert_array_equal(drawn[a, p, 0, 5:7], z[p])  # the same code, off and on
            np.testing.assert_array_equal(drawn[a, p, 1, 5:7], z[p])


def test_switch_values_of_real_valued_scores_are_their_5th_and_95th_percentiles():
    scores = np.linspace(-2, 2, 101)[:, None]
    off, on = sampling.switch_values(scores, binary=False)
    np.testing.assert_allclose([off[0], on[0]], [-1.8, 1.8])


def test_sample_mode_writes_decodable_pngs_reproducibly(tmp_path, tiny_runs):
    source, config = tiny_runs("vaegan")
    workdir = str(tmp_path / "run")
    shutil.copytree(source, workdir)
    paths = sampling.sample_mode(config, workdir)
    assert [os.path.basename(p) for p in paths] == ["prior_0000002.png",
                                                    "interpolations_0000002.png"]
    s = config.image_size
    pictures = []
    for p in paths:
        with Image.open(p) as im:
            pictures.append(np.asarray(im.convert("RGB")))
    assert pictures[0].shape == (8 * s, 8 * s, 3)
    assert pictures[1].shape[1] == (sampling.STEPS + 2) * s  # input A, path, input B
    again = sampling.sample_mode(config, workdir)
    with Image.open(again[0]) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), pictures[0])
    assert os.listdir(os.path.join(workdir, "tensorboard", "evaluate"))
