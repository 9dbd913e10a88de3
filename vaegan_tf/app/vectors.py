"""The run's attribute vectors (W/attribute_vectors.npz, written by --mode=attributes), as the
page's sliders use them: only attributes that have a vector, and a reason when there are none
usable, so the page can say what to run instead of failing on the first slider."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vaegan_tf.evaluation.attributes import read_vectors
from vaegan_tf.workdir import Workdir


@dataclasses.dataclass(frozen=True)
class AttributeVectors:
    names: tuple[str, ...]  # one slider each
    vectors: np.ndarray  # float32 [len(names), latent_dim]
    step: int  # the checkpoint step they were computed at
    without: tuple[str, ...]  # attributes with no vector (no positive or no negative face)


def load_vectors(run: Workdir, latent_dim: int) -> tuple[AttributeVectors | None, str]:
    """(vectors, "") or (None, why not): the file is missing, unreadable, or made for codes of
    another size (a run trained again in the same folder)."""
    path = run.attribute_vectors
    if not os.path.exists(path):
        return None, f"{path} does not exist"
    try:
        vectors, names, step = read_vectors(path)
    except ValueError as e:
        return None, str(e)
    if vectors.ndim != 2 or vectors.shape != (len(names), latent_dim):
        return None, (f"{path} holds vectors of shape {vectors.shape}, not one per attribute of "
                      f"this model's {latent_dim}-dimensional codes")
    usable = ~np.isnan(vectors).any(axis=1)
    if not usable.any():
        return None, f"{path} holds no attribute with a vector"
    return AttributeVectors(names=tuple(n for n, u in zip(names, usable) if u),
                            vectors=vectors[usable], step=step,
                            without=tuple(n for n, u in zip(names, usable) if not u)), ""
