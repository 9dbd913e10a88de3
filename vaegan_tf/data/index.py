"""The index every file-based source is read into: image paths, attributes, split."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ImageIndex:
    """The images of a file-based dataset (CelebA, LFW, the synthetic faces, a folder) with their
    attributes and split, in file order."""

    filenames: list[str]  # absolute paths
    attributes: np.ndarray  # float32 [N, A], 1 where present, else 0 (lfw.py: real-valued scores)
    attribute_names: tuple[str, ...]
    partition: np.ndarray  # int64 [N]: 0 train, 1 validation, 2 test
    landmarks: np.ndarray | None = None  # int32 [N, 10] (LANDMARKS order) when the file exists
    # --dataset=folder only (folder.py): file sizes, the folder, and the files skipped by reason.
    sizes: np.ndarray | None = None  # int64 [N] bytes
    root: str = ""
    skipped: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __len__(self) -> int:
        return len(self.filenames)

    def subset(self, mask: np.ndarray) -> "ImageIndex":
        keep = np.flatnonzero(mask)
        return dataclasses.replace(
            self, filenames=[self.filenames[i] for i in keep], attributes=self.attributes[keep],
            partition=self.partition[keep],
            landmarks=None if self.landmarks is None else self.landmarks[keep],
            sizes=None if self.sizes is None else self.sizes[keep])
