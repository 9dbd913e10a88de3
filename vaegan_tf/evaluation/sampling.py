"""--mode=sample: a grid of samples from the prior and interpolations between encoded test faces.

Both use --sample_seed, so the same run and seed always show the same pictures. Interpolation is
linear in z between the posterior means of two test faces (rows: input A, the decoded path, input
B); a gan has no encoder, so its rows interpolate between two prior draws instead. Conditional runs
(Sec 4.2) draw with the test split's attribute vectors y and interpolate y alongside z, and
picture each attribute switched off and on (attribute_switches).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vaegan_tf import data, tensorboard_logs
from vaegan_tf.config import Config
from vaegan_tf.evaluation import inference
from vaegan_tf.images import image_grid, write_png
from vaegan_tf.workdir import Workdir

PRIOR_SAMPLES = 64  # an 8x8 grid
PAIRS = 8  # interpolation rows
STEPS = 8  # decoded points per row, endpoints included
SWITCHED = 6  # codes per row of the attribute-switch grid, each drawn off and on


def switch_values(vectors: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """(off, on) per attribute: 0 and 1 for binary attributes; for real-valued scores (LFW) the
    5th and 95th percentiles of the vectors given."""
    if binary:
        return np.zeros(vectors.shape[1]), np.ones(vectors.shape[1])
    return np.percentile(vectors, 5, axis=0), np.percentile(vectors, 95, axis=0)


def attribute_switches(model, z: np.ndarray, base: np.ndarray, off: np.ndarray, on: np.ndarray,
                       batch_size: int) -> np.ndarray:
    """[A, P, 2, S, S, 3]: for each attribute a and each of P codes z_p with its vector base_p,
    Dec(z_p, y) with y = base_p but y_a = off_a, then y_a = on_a: only the asked attribute
    changes between a pair, so the pair shows what the model draws for it and whether the face
    stays the same."""
    num, count = base.shape[1], len(z)
    y = np.repeat(np.repeat(base[None, :, None, :], num, 0), 2, 2).astype(np.float32)  # [A,P,2,A]
    for a in range(num):
        y[a, :, 0, a], y[a, :, 1, a] = off[a], on[a]
    codes = np.broadcast_to(z[None, :, None, :], (num, count, 2, z.shape[1])).reshape(-1, z.shape[1])
    images = inference.decode(model, codes, batch_size, y.reshape(-1, num))
    return images.reshape((num, count, 2) + images.shape[1:])


def attribute_switch_grid(model, z: np.ndarray, vectors: np.ndarray, binary: bool,
                          batch_size: int) -> np.ndarray:
    """attribute_switches for the first SWITCHED codes and vectors, as one image: a row per
    attribute, each code's pair (off, on) side by side."""
    n = min(SWITCHED, len(vectors), len(z))
    off, on = switch_values(vectors, binary)
    switches = attribute_switches(model, z[:n], vectors[:n], off, on, batch_size)
    return image_grid(switches.reshape((-1,) + switches.shape[3:]), cols=2 * n)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """z_t = (1 − t) a + t b for t = 0, 1/(steps−1), ..., 1: [steps, L] (a, b are [L])."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1.0 - t) * a[None, :] + t * b[None, :]


def sample_mode(config: Config, workdir: str | Workdir) -> list[str]:
    """Writes samples/prior_<step>.png and samples/interpolations_<step>.png, and for a
    conditional run samples/attribute_switches_<step>.png (one row per attribute: SWITCHED codes,
    each off then on), and each to TensorBoard's `evaluate` writer; returns the PNG paths.

    A conditional run's prior samples are drawn with the test split's attribute vectors (cycled
    to fill the grid), and its interpolations move y linearly between the two ends' vectors too.
    """
    run = Workdir.of(workdir)
    model, step = inference.restored(config, run)
    rng = np.random.default_rng(config.sample_seed)
    bs, latent = config.batch_size, config.latent_dim
    z = rng.standard_normal((PRIOR_SAMPLES, latent)).astype(np.float32)
    test_x = test_y = prior_y = ends_y = None
    if model.encoder is not None or config.conditional:
        wanted = PRIOR_SAMPLES if config.conditional else 2 * PAIRS
        test_x, test_y = inference.split_images(config, "test", wanted, data.load_index(config))
    if config.conditional:
        prior_y = np.resize(test_y, (PRIOR_SAMPLES, test_y.shape[1]))
    prior = inference.decode(model, z, bs, prior_y)
    grids = {"prior": image_grid(prior, cols=8)}

    if model.encoder is not None:
        test_x, test_y = test_x[:2 * PAIRS], test_y[:2 * PAIRS]
        if len(test_x) < 2:
            test_x, test_y = np.concatenate([test_x, test_x]), np.concatenate([test_y, test_y])
        pairs = min(PAIRS, len(test_x) // 2)
        order = rng.permutation(len(test_x))[:2 * pairs]
        ends = test_x[order].reshape((pairs, 2) + test_x.shape[1:])
        if config.conditional:
            ends_y = test_y[order].reshape(pairs, 2, -1)
        codes = inference.encode(model, ends.reshape((-1,) + test_x.shape[1:]), bs,
                               None if ends_y is None else ends_y.reshape(2 * pairs, -1))
        codes = codes.reshape(pairs, 2, -1)
    else:
        pairs, ends = PAIRS, None
        codes = rng.standard_normal((pairs, 2, latent)).astype(np.float32)
        if config.conditional:
            ends_y = np.resize(test_y, (2 * pairs, test_y.shape[1])).reshape(pairs, 2, -1)
    path = np.concatenate([interpolate(c[0], c[1], STEPS) for c in codes])
    path_y = None if ends_y is None else np.concatenate(
        [interpolate(e[0], e[1], STEPS) for e in ends_y.astype(np.float32)])
    decoded = inference.decode(model, path, bs, path_y).reshape((pairs, STEPS) + prior.shape[1:])
    if ends is not None:
        decoded = np.concatenate([ends[:, :1], decoded, ends[:, 1:]], axis=1)
    grids["interpolations"] = image_grid(decoded.reshape((-1,) + prior.shape[1:]),
                                         cols=decoded.shape[1])
    if config.conditional:
        grids["attribute_switches"] = attribute_switch_grid(model, z, test_y,
                                                            config.binary_attributes, bs)

    paths = []
    writer = tensorboard_logs.summary_writer(run, "evaluate")
    with writer.as_default(step=step):
        for name, grid in grids.items():
            paths.append(run.sample_png(f"{name}_{step:07d}.png"))
            write_png(paths[-1], grid)
            tf.summary.image(name, grid[None], max_outputs=1)
    writer.flush()
    return paths
