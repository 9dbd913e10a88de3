"""--mode=embed: a run's latent space in TensorBoard's Embedding Projector.

The points are the posterior means μ(x) of up to --eval_images test faces (file order), labelled
`test <i>` and tagged with each attribute ("Smiling" / "not Smiling") so the Projector can colour
them by it. Each attribute vector v_a (Sec 4.1.1) adds one point, `+<name>`, at the test faces'
mean code + v_a, with the decoding of that point as its picture: where the direction leads.

Everything goes to WORKDIR/tensorboard/projector, a run of its own (it holds one small event file so
TensorBoard lists it), so `tensorboard --logdir WORKDIR/tensorboard` or `--logdir runs/` shows it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf
from absl import logging
from tensorboard.plugins import projector

from vaegan_tf import data
from vaegan_tf.config import Config
from vaegan_tf.errors import ConfigError
from vaegan_tf.evaluation import attributes, inference
from vaegan_tf.files import atomic_path
from vaegan_tf.images import image_grid, write_png
from vaegan_tf.workdir import Workdir

# The key tf.train.Checkpoint(embedding=...) stores the variable under.
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
SPRITE, METADATA = "sprite.png", "metadata.tsv"
MAX_SPRITE = 8192  # the Projector refuses sprites wider or taller than this many pixels


def attribute_directions(config: Config, run: str | Workdir, model, step: int,
                         index: data.Index) -> tuple[np.ndarray, str]:
    """(vectors [A, L], where they came from).

    The run's attribute_vectors.npz when --mode=attributes wrote it from this same checkpoint, so
    the Projector shows the vectors whose efficacy that mode measured; otherwise (none yet, or
    one from another step) they are computed here the same way, from the train split.
    """
    path = Workdir.of(run).attribute_vectors
    if os.path.isfile(path):
        try:
            vectors, names, saved_step = attributes.read_vectors(path)
            if saved_step == step and names == tuple(index.attribute_names):
                return vectors, path
            logging.info("%s is from another step or dataset: computing the vectors afresh", path)
        except ValueError as e:  # derived data: an unreadable copy is no reason to stop
            logging.warning("%s: computing the vectors afresh", e)
    x, y = inference.split_images(config, "train", config.eval_images, index)
    vectors, _, _ = attributes.attribute_vectors(inference.encode(model, x, config.batch_size),
                                                 data.present(config, y))  # LFW: scores
    return vectors, f"{len(x)} train images"


def metadata_rows(names: tuple[str, ...], present: np.ndarray,
                  vector_names: list[str]) -> list[list[str]]:
    """The TSV: a header, one row per test face, then one per attribute vector.

    Words rather than 1/0: the Projector colours a column by category only when it is not all
    numbers, and its legend then reads "Smiling" / "not Smiling" / "vector".
    """
    rows = [["label", *names]]
    rows += [[f"test {i}", *(n if p else f"not {n}" for n, p in zip(names, flags))]
             for i, flags in enumerate(np.asarray(present) > 0.5)]
    rows += [[f"+{n}", *(["vector"] * len(names))] for n in vector_names]
    return rows


def sprite(images: np.ndarray, tile: int) -> np.ndarray:
    """images [N, S, S, 3] in [-1, 1] as a square uint8 grid of tile x tile pictures, row by row
    (the Projector's order), black where the square has no point."""
    side = math.ceil(math.sqrt(len(images)))
    if tile != images.shape[1]:
        images = tf.image.resize(images, (tile, tile), method="area").numpy()
    padded = np.full((side * side, tile, tile, images.shape[-1]), -1.0, np.float32)
    padded[:len(images)] = images
    return image_grid(padded, cols=side)


def _write_embedding(staging: str, points: np.ndarray, tiles: np.ndarray, rows: list[list[str]],
                     note: str, step: int) -> str:
    """The Projector's files in `staging`; returns the checkpoint prefix."""
    os.makedirs(staging)
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(points, dtype=tf.float32))
    # The `checkpoint` state file beside it holds a relative path, which is how the Projector
    # finds it: the config names no checkpoint, so the run folder can be moved.
    prefix = checkpoint.save(os.path.join(staging, "embedding"))
    side = math.ceil(math.sqrt(len(tiles)))
    tile = min(tiles.shape[1], MAX_SPRITE // side)
    write_png(os.path.join(staging, SPRITE), sprite(tiles, tile))
    with open(os.path.join(staging, METADATA), "w") as f:
        f.writelines("\t".join(row) + "\n" for row in rows)
    writer = tf.summary.create_file_writer(staging)  # TensorBoard lists only folders with events
    with writer.as_default(step=step):
        tf.summary.text("embedding", note)
    writer.close()

    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA  # relative paths: to the config's folder
    embedding.sprite.image_path = SPRITE
    embedding.sprite.single_image_dim.extend([tile, tile])
    projector.visualize_embeddings(staging, config)  # last: the config is what TensorBoard reads
    return prefix


def write_projector(folder: str, points: np.ndarray, tiles: np.ndarray, rows: list[list[str]],
                    note: str, step: int) -> dict[str, str]:
    """Writes the embedding to `folder`, replacing what an earlier call wrote there.

    Everything is written to a staging folder and then renamed into place (files.atomic_path),
    so TensorBoard always finds either the old embedding or the new one complete, never a config
    whose checkpoint is missing or half written. Returns the final paths.
    """
    with atomic_path(folder) as staging:
        prefix = _write_embedding(staging, points, tiles, rows, note, step)
    files = {"checkpoint": os.path.basename(prefix), "config": "projector_config.pbtxt",
             "sprite": SPRITE, "metadata": METADATA}
    return {key: os.path.join(folder, name) for key, name in files.items()}


def embed_mode(config: Config, workdir: str | Workdir) -> dict:
    """Writes the Projector files of a trained run (module docstring); returns the record."""
    if not config.uses_encoder:
        raise ConfigError(f"--mode=embed shows encoder codes μ(x); --model={config.model} has "
                          "no encoder")
    if config.conditional:
        raise ConfigError("--mode=embed shows attribute vectors in z of unconditional runs; a "
                          "conditional run's codes μ(x, y) depend on the y given with them")
    run = Workdir.of(workdir)
    model, step = inference.restored(config, run)
    index = data.load_index(config)
    names, bs = index.attribute_names, config.batch_size
    images, labels = inference.split_images(config, "test", config.eval_images, index)
    codes = inference.encode(model, images, bs)
    vectors, source = attribute_directions(config, run, model, step, index)
    keep = [a for a, v in enumerate(vectors) if not np.isnan(v).any()]
    skipped = [names[a] for a in range(len(names)) if a not in keep]
    if skipped:
        logging.info("No vector for %s: no positive or no negative faces among those the vectors "
                     "come from (%s)", ", ".join(skipped), source)
    ends = codes.mean(0) + vectors[keep]
    points = np.concatenate([codes, ends])
    tiles = np.concatenate([images, inference.decode(model, ends, bs)]) if keep else images
    rows = metadata_rows(names, data.present(config, labels), [names[a] for a in keep])
    note = (f"{len(codes)} test faces and {len(keep)} attribute vectors (from {source}) "
            f"at step {step}")
    folder = run.projector
    paths = write_projector(folder, points, tiles, rows, note, step)
    logging.info("Embedding of %d points (%s) written to %s", len(points), note, folder)
    return {"step": step, "points": len(points), "images": len(codes),
            "vectors": [names[a] for a in keep], "skipped": skipped, "vectors_from": source,
            "folder": folder, "paths": paths}
