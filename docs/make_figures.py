"""Builds the README's comparison figures from trained runs (after --mode=attributes in each).

    python docs/make_figures.py runs/cmp_vae runs/cmp_vaegan_dis0 runs/cmp_vaegan

writes docs/comparison_{samples,reconstructions,attributes}.png: one block per run, left to right
(samples, attributes) or one row per run under the inputs (reconstructions). Same z, same faces.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from vaegan_tf import data, restore  # noqa: E402
from vaegan_tf.config import Config  # noqa: E402
from PIL import Image  # noqa: E402

from vaegan_tf.summaries import image_grid  # noqa: E402

SAMPLES, FACES, EDITS = 16, 8, ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat")
OUT = os.path.dirname(os.path.abspath(__file__))


def write_png(path, grid):
    # A 256-colour palette keeps the committed figures small.
    Image.fromarray(grid).quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def main(workdirs):
    gap = lambda h: np.full((h, 8, 3), 255, np.uint8)  # noqa: E731  white separator
    samples, recon_rows, edits, inputs = [], [], [], None
    for workdir in workdirs:
        config = restore.run_config(workdir, Config.load(os.path.join(workdir, "config.json")))
        model, _ = restore.restore_model(config, workdir)
        z = np.random.default_rng(0).standard_normal((SAMPLES, config.latent_dim)).astype(np.float32)
        samples += [image_grid(restore.decode(model, z, 64), cols=4), gap(4 * config.image_size)]
        faces, _ = restore.split_images(config, "test", FACES, data.load_index(config))
        inputs = faces
        codes = restore.encode(model, faces, 64)
        recon_rows.append(restore.decode(model, codes, 64))
        saved = np.load(os.path.join(workdir, "attribute_vectors.npz"))
        names = list(saved["names"])
        tiles = [faces[:4], restore.decode(model, codes[:4], 64)]
        tiles += [restore.decode(model, codes[:4] + saved["vectors"][names.index(n)], 64) for n in EDITS]
        grid = image_grid(np.stack(tiles, 1).reshape((-1,) + faces.shape[1:]), cols=len(tiles))
        edits += [grid, gap(grid.shape[0])]
    write_png(os.path.join(OUT, "comparison_samples.png"), np.concatenate(samples[:-1], 1))
    write_png(os.path.join(OUT, "comparison_reconstructions.png"),
              image_grid(np.concatenate([inputs] + recon_rows), cols=FACES))
    write_png(os.path.join(OUT, "comparison_attributes.png"), np.concatenate(edits[:-1], 1))


if __name__ == "__main__":
    main(sys.argv[1:])
