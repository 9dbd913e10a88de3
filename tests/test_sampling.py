"""--mode=sample: prior and interpolation grids, reproducible for a seed."""

import os
import shutil

import numpy as np
from PIL import Image

from vaegan_tf.evaluation import sampling


def test_interpolate_endpoints_and_midpoint():
    path = sampling.interpolate(np.zeros(3, np.float32), np.ones(3, np.float32), 5)
    np.testing.assert_allclose(path[[0, 2, 4]], [[0] * 3, [0.5] * 3, [1] * 3])


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
