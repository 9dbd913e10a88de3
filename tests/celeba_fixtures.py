"""Generated CelebA folders for the data tests: the official layout and the CSV repackaging."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def write_layout(root, attributes: np.ndarray, partition: list[int], names: list[str] | None = None,
                 newline: str = "\n", colours: np.ndarray | None = None) -> list[str]:
    """Writes a tiny dataset in CelebA's layout, each image one flat colour (grey by default)."""
    n, a = attributes.shape
    names = names or [f"Attr_{j}" for j in range(a)]
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    os.makedirs(os.path.join(root, "img_align_celeba"), exist_ok=True)
    for i, name in enumerate(files):
        colour = tuple(int(c) for c in colours[i]) if colours is not None else (128, 128, 128)
        Image.new("RGB", (178, 218), colour).save(os.path.join(root, "img_align_celeba", name),
                                                  quality=95)
    rows = [f"{f} " + " ".join(f"{v:2d}" for v in row) for f, row in zip(files, attributes)]
    with open(os.path.join(root, "list_attr_celeba.txt"), "w", newline="") as f:
        f.write(newline.join([str(n), " ".join(names) + " "] + rows) + newline)
    with open(os.path.join(root, "list_eval_partition.txt"), "w", newline="") as f:
        f.write(newline.join(f"{name} {p}" for name, p in zip(files, partition)) + newline)
    return files



def write_csv_layout(root, attributes: np.ndarray, partition: list[int],
                     names: list[str] | None = None, colours: np.ndarray | None = None,
                     landmarks: bool = True) -> list[str]:
    """The Kaggle repackaging: .csv tables, images one folder deeper, \\r\\n line endings."""
    n, a = attributes.shape
    names = names or [f"Attr_{j}" for j in range(a)]
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    image_dir = os.path.join(root, "img_align_celeba", "img_align_celeba")
    os.makedirs(image_dir, exist_ok=True)
    for i, name in enumerate(files):
        colour = tuple(int(c) for c in colours[i]) if colours is not None else (128, 128, 128)
        Image.new("RGB", (178, 218), colour).save(os.path.join(image_dir, name), quality=95)

    def table(filename: str, header: list[str], rows: list[list]) -> None:
        with open(os.path.join(root, filename), "w", newline="") as f:
            f.write("\r\n".join(",".join(str(v) for v in row) for row in [header] + rows) + "\r\n")

    table("list_attr_celeba.csv", ["image_id"] + names,
          [[f] + list(row) for f, row in zip(files, attributes)])
    table("list_eval_partition.csv", ["image_id", "partition"],
          [[f, p] for f, p in zip(files, partition)])
    if landmarks:
        table("list_landmarks_align_celeba.csv",
              ["image_id", "lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x",
               "nose_y", "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y"],
              [[f] + [i + k for k in range(10)] for i, f in enumerate(files)])
    return files


def replace_once(path: str, old: str, new: str) -> None:
    """Rewrites a fixture file with its first `old` replaced by `new` (which must be there)."""
    with open(path) as f:
        text = f.read()
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))
