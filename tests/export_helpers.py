"""Helpers the export and serving tests share (their exported run is conftest.py's `trained`)."""

import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")
S, LATENT = 32, 8  # tiny_config's image_size and latent_dim






def _faces() -> list[bytes]:
    """A JPEG at CelebA's aligned size and a PNG of another size."""
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    return [tf.io.encode_jpeg(big).numpy(), tf.io.encode_png(small).numpy()]


def _models_config(workdir):
    from tensorflow_serving.config import model_server_config_pb2
    with open(os.path.join(workdir, "export", "models.config")) as f:
        return text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())


def _one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip() and not l.startswith(TF_NOISE)]
    assert len(lines) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
