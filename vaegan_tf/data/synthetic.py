"""The embedded demo dataset: procedurally drawn faces in CelebA's official on-disk layout.

CelebA cannot be downloaded here and its licence forbids shipping it, so demos and tests draw their
own faces: 178x218 RGB images with the face where CelebA's aligned crops put it (eyes near row 111,
mouth near row 150), labelled with a subset of CelebA's attribute names. Everything a data loader
sees (folders, file names, annotation formats) matches the real dataset, so `celeba.read_celeba` reads
both with the same code.

Each image is drawn from its own generator seeded by (seed, index), so the output is byte-identical
for a given (num_images, seed) and any image can be redrawn alone.
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import logging

from vaegan_tf.data.faces import ATTRIBUTE_NAMES, draw_face, sample_attributes
from vaegan_tf.errors import DataError
from vaegan_tf.files import write_text

GENERATOR_VERSION = 1

# The official CelebA layout, shared with data.py.
IMAGE_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
MANIFEST_FILE = "synthetic.json"
# Written before generation starts and removed after the manifest: marks a folder as ours even when
# a generation was interrupted, so the next call may finish it instead of refusing it.
PARTIAL_FILE = "synthetic.partial"
_JPEG_QUALITY = 95

def image_name(index: int) -> str:
    """CelebA's file name for the 0-based `index`: 000001.jpg, 000002.jpg, ..."""
    return f"{index + 1:06d}.jpg"


def _render(image_dir: str, seed: int, num_images: int,
            name=image_name, **save) -> list[list[bool]]:
    """Draws the faces into image_dir/name(index) (PIL's `save` options: JPEG by default)."""
    save = save or {"format": "JPEG", "quality": _JPEG_QUALITY}
    rows = []
    for index in range(num_images):
        rng = np.random.default_rng([seed, index])
        attributes = sample_attributes(rng)
        draw_face(rng, attributes).save(os.path.join(image_dir, name(index)), **save)
        rows.append([attributes[name] for name in ATTRIBUTE_NAMES])
    return rows


def write_picture_folder(root: str, num_images: int, seed: int) -> tuple[str, str]:
    """The same faces as `ensure_synthetic`'s, as a plain folder of lossless PNGs for
    --dataset=folder: (root/pictures, the folder; root/attributes.csv, their attributes)."""
    pictures = os.path.join(root, "pictures")
    os.makedirs(pictures, exist_ok=True)
    rows = _render(pictures, seed, num_images, lambda i: f"{i + 1:06d}.png", format="PNG")
    lines = ["filename," + ",".join(ATTRIBUTE_NAMES)]
    lines += [f"{i + 1:06d}.png," + ",".join("1" if v else "0" for v in row)
              for i, row in enumerate(rows)]
    csv_path = os.path.join(root, "attributes.csv")
    write_text(csv_path, "\n".join(lines) + "\n")
    return pictures, csv_path


def _partition(num_images: int) -> np.ndarray:
    """CelebA's split as contiguous blocks: ~80% train (0), 10% validation (1), 10% test (2)."""
    n_val = n_test = max(1, round(0.1 * num_images))
    parts = np.zeros(num_images, np.int64)
    parts[num_images - n_val - n_test:num_images - n_test] = 1
    parts[num_images - n_test:] = 2
    return parts


def _manifest(num_images: int, seed: int) -> dict:
    return {"generator": "vaegan_tf.synthetic", "version": GENERATOR_VERSION,
            "num_images": num_images, "seed": seed}


def _generate(root: str, num_images: int, seed: int) -> None:
    """Draws the dataset into `root`, a folder that is missing, empty or ours."""
    image_dir = os.path.join(root, IMAGE_DIR)
    os.makedirs(image_dir, exist_ok=True)
    write_text(os.path.join(root, PARTIAL_FILE), json.dumps(_manifest(num_images, seed)))
    # Without its manifest the folder reads as unfinished until this generation completes.
    if os.path.exists(os.path.join(root, MANIFEST_FILE)):
        os.remove(os.path.join(root, MANIFEST_FILE))
    # One thread: drawing holds the GIL (threads measured no faster) and forking worker processes
    # is unsafe once TensorFlow runs its own threads; 4000 images take about 7 s this way.
    rows = _render(image_dir, seed, num_images)
    lines = [str(num_images), " ".join(ATTRIBUTE_NAMES) + " "]
    for index, row in enumerate(rows):
        lines.append(image_name(index) + " " + " ".join(" 1" if v else "-1" for v in row))
    write_text(os.path.join(root, ATTR_FILE), "\n".join(lines) + "\n")
    parts = _partition(num_images)
    write_text(os.path.join(root, PARTITION_FILE),
                "".join(f"{image_name(i)} {p}\n" for i, p in enumerate(parts)))
    # The manifest goes last: its presence means every file above is complete.
    write_text(os.path.join(root, MANIFEST_FILE), json.dumps(_manifest(num_images, seed)))
    os.remove(os.path.join(root, PARTIAL_FILE))


def _is_complete(root: str, num_images: int) -> bool:
    image_dir = os.path.join(root, IMAGE_DIR)
    if not (os.path.isfile(os.path.join(root, ATTR_FILE)) and os.path.isdir(image_dir)
            and os.path.isfile(os.path.join(root, PARTITION_FILE))):
        return False
    present = set(os.listdir(image_dir))  # one scan, not one stat() per image
    return all(image_name(i) in present for i in range(num_images))


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def ensure_synthetic(root: str, num_images: int, seed: int) -> str:
    """Makes `root` hold the synthetic dataset for (num_images, seed) and returns `root`.

    Reuses a complete matching dataset, draws one into a missing or empty folder, finishes an
    interrupted generation of ours, and refuses (DataError) a folder holding anything else; it
    never deletes or overwrites files it did not write.
    """
    if num_images < 1:
        raise DataError(f"the synthetic dataset needs at least 1 image; got {num_images}")
    if os.path.exists(root) and not os.path.isdir(root):
        raise DataError(f"--data_dir {root} is a file, not a folder; pick another --data_dir")
    wanted = _manifest(num_images, seed)
    manifest = _read_json(os.path.join(root, MANIFEST_FILE))
    if manifest == wanted and _is_complete(root, num_images):
        return root
    partial = _read_json(os.path.join(root, PARTIAL_FILE))
    # Ours to (re)write: our own data with files missing, or an interrupted generation of ours.
    ours = manifest == wanted or (manifest is None and partial is not None
                                  and partial.get("generator") == wanted["generator"])
    if os.path.isdir(root) and os.listdir(root) and not ours:
        if manifest is not None and manifest.get("generator") == wanted["generator"]:
            what = (f"synthetic data for {manifest.get('num_images')} images and seed "
                    f"{manifest.get('seed')}, not {num_images} images and seed {seed}")
        else:
            what = "files that are not this program's synthetic dataset"
        raise DataError(f"--data_dir {root} already holds {what}; pick another --data_dir "
                        f"(an empty or missing folder) for the synthetic dataset")
    logging.info("Drawing %d synthetic faces (seed %d) into %s", num_images, seed, root)
    _generate(root, num_images, seed)
    return root
