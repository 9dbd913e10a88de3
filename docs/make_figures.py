"""Builds the comparison figures of docs/models.md and the README from trained runs.

    python docs/make_figures.py NAME LABEL=WORKDIR [LABEL=WORKDIR ...]

writes docs/NAME.png (doubled in size for 32x32 runs): one column per run, its label on top, then 16 prior samples Dec(z_p)
(4x4, the same z for every run of the same latent size) and 8 test faces, each beside its
reconstruction Dec(μ(x)) (the same faces for every run). A run without an encoder (gan) shows
its samples only. If every run has attribute_vectors.npz (--mode=attributes), NAME_attributes.png
shows per run: input, reconstruction, + Eyeglasses, + Smiling, + Blond_Hair, + Wearing_Hat.
Conditional runs (Sec 4.2) give instead one column per run of its attribute-switch grid
(sampling.attribute_switches: a row per attribute, the first SWITCHED test vectors' codes each
drawn with it off and on, the same z for every run), the attribute names on the left.
"""

import os
import sys

from vaegan_tf import console

console.import_tensorflow()  # before the modules that import it: its start-up notices go

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from vaegan_tf import data, run_record  # noqa: E402
from vaegan_tf.evaluation import inference, sampling  # noqa: E402
from vaegan_tf.images import image_grid, side_by_side  # noqa: E402
from vaegan_tf.workdir import Workdir  # noqa: E402

SAMPLES, FACES, EDITS = 16, 8, ("Eyeglasses", "Smiling", "Blond_Hair", "Wearing_Hat")
OUT = os.path.dirname(os.path.abspath(__file__))
WHITE = 255


def write_png(path, grid, scale=1):
    # Nearest-neighbour upscaling keeps 32x32 pixels visible; a 256-colour palette keeps the
    # committed figures small.
    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    image.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def _label(text, width):
    strip = Image.new("RGB", (width, 14), (WHITE,) * 3)
    ImageDraw.Draw(strip).text((2, 1), text, fill=(0, 0, 0))
    return np.asarray(strip)


def _pad(block, width):
    out = np.full((block.shape[0], width, 3), WHITE, np.uint8)
    out[:, :block.shape[1]] = block
    return out


def _column(label, workdir):
    run = Workdir(workdir)
    config = run_record.load(run)
    model = inference.restore(run, config)
    z = np.random.default_rng(0).standard_normal((SAMPLES, config.latent_dim)).astype(np.float32)
    blocks = [image_grid(inference.decode(model, z, 64), cols=4)]
    faces, _ = inference.split_images(config, "test", FACES, data.load_index(config))
    edits = None
    if model.encoder is not None:
        codes = inference.encode(model, faces, 64)
        recon = inference.decode(model, codes, 64)
        blocks.append(image_grid(side_by_side(faces, recon), cols=4))
        path = run.attribute_vectors
        if os.path.exists(path):
            saved = np.load(path)
            names = list(saved["names"])
            tiles = [faces[:4], recon[:4]] + [
                inference.decode(model, codes[:4] + saved["vectors"][names.index(n)], 64) for n in EDITS]
            edits = image_grid(np.stack(tiles, 1).reshape((-1,) + faces.shape[1:]), cols=len(tiles))
    width = max(b.shape[1] for b in blocks)
    gap = np.full((4, width, 3), WHITE, np.uint8)
    parts = [_label(label, width)]
    for b in blocks:
        parts += [_pad(b, width), gap]
    return np.concatenate(parts), edits, config.image_size


def _switch_column(label, workdir):
    run = Workdir(workdir)
    config = run_record.load(run)
    model = inference.restore(run, config)
    z = np.random.default_rng(0).standard_normal((sampling.SWITCHED, config.latent_dim))
    index = data.load_index(config)
    _, test_y = inference.split_images(config, "test", sampling.SWITCHED, index)
    grid = sampling.attribute_switch_grid(model, z.astype(np.float32), test_y,
                                          config.binary_attributes, 64)
    return np.concatenate([_label(label, grid.shape[1]), grid]), index.attribute_names, \
        config.image_size


def _names(names, size, width=118):
    """A column of attribute names, one per grid row of `size` pixels, under a label's height."""
    strip = Image.new("RGB", (width, 14 + size * len(names)), (WHITE,) * 3)
    draw = ImageDraw.Draw(strip)
    for i, name in enumerate(names):
        draw.text((2, 14 + i * size + size // 2 - 6), name, fill=(0, 0, 0))
    return np.asarray(strip)


def switches_figure(name, runs):
    columns = []
    for run in runs:
        label, _, workdir = run.rpartition("=")
        column, names, size = _switch_column(label + "  (each pair: off, on)", workdir)
        columns.append(column)
    scale = 2 if size <= 32 else 1
    # The names are drawn at the figure's final scale, so they stay readable.
    grid = Image.fromarray(_side(columns))
    grid = np.asarray(grid.resize((grid.width * scale, grid.height * scale),
                                  Image.Resampling.NEAREST))
    names_column = _names(names, size * scale)
    names_column = np.concatenate([np.full((14 * scale - 14, names_column.shape[1], 3), WHITE,
                                           np.uint8), names_column])
    write_png(os.path.join(OUT, f"{name}.png"), _side([names_column, grid]))


def _side(columns):
    height = max(c.shape[0] for c in columns)
    spaced = []
    for c in columns:
        full = np.full((height, c.shape[1], 3), WHITE, np.uint8)
        full[:c.shape[0]] = c
        spaced += [full, np.full((height, 8, 3), WHITE, np.uint8)]
    return np.concatenate(spaced[:-1], 1)


def main(name, runs):
    if run_record.load(Workdir(runs[0].rpartition("=")[2])).conditional:
        return switches_figure(name, runs)
    columns, edits, sizes = [], [], []
    for run in runs:
        label, _, workdir = run.rpartition("=")  # labels may hold "="
        column, edit, size = _column(label, workdir)
        columns.append(column)
        edits.append(edit)
        sizes.append(size)
    scale = 2 if max(sizes) <= 32 else 1
    write_png(os.path.join(OUT, f"{name}.png"), _side(columns), scale)
    if all(e is not None for e in edits):
        write_png(os.path.join(OUT, f"{name}_attributes.png"), _side(edits), scale)


if __name__ == "__main__":
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
