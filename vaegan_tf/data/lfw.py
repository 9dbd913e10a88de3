"""LFW on disk with the attributes of Kumar et al., read into the index data.py uses for CelebA.

Layout under a root folder (as the official archives unpack):
    lfw_attributes.txt                       Kumar et al.'s attribute scores (see below)
    lfw-deepfunneled/<Name>/<Name>_0001.jpg  the deep-funneled (aligned) images, or
    lfw/<Name>/<Name>_0001.jpg               the original images; 250x250 RGB either way
(each folder may be one level deeper, lfw/lfw/..., as some repackagings have it). When both image
folders are present the deep-funneled one is used.

lfw_attributes.txt is tab-separated: comment lines start with `#`; one of them is the header
`#<TAB>person<TAB>imagenum<TAB>Male<TAB>Asian<TAB>...` naming the 73 attributes (names hold
spaces, hence the tabs); every other line is `Aaron Eckhart<TAB>1<TAB>1.56835<TAB>-1.88904...`:
the person with spaces where the folder has underscores, the image number, and one real-valued
score per attribute (positive: the attribute is present). Images without a row are left out, as
in the authors' code; a row whose image is missing, or any malformed row, stops with a DataError
naming the file and line.

LFW has no official train/test split of its images by person for this use, so the people are
split here, deterministically and independently of any flag: people in a fixed shuffled order
fill the test split to TEST_FRACTION of the images, then validation to VALIDATION_FRACTION, and
the rest train. A person's images are never in two splits.
"""

from __future__ import annotations

import math
import os

import numpy as np
from absl import logging

from vaegan_tf.data.index import ImageIndex
from vaegan_tf.errors import DataError

ATTR_FILE = "lfw_attributes.txt"
IMAGE_DIRS = ("lfw-deepfunneled", "lfw")  # in order of preference
HEADER = ("person", "imagenum")  # the header's first two column names, after `#`
TEST_FRACTION = 0.1
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # fixed: every run on the same files gets the same people in each split


def _lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read the LFW attribute file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # older copies of the file are not UTF-8; any byte decodes
    return text.splitlines()


def _fields(line: str) -> list[str]:
    fields = [f.strip() for f in line.split("\t")]
    while fields and not fields[-1]:  # a trailing tab, as the header of the real file has
        fields.pop()
    return fields


def read_attributes(path: str) -> tuple[list[tuple[str, int]], np.ndarray, tuple[str, ...],
                                        list[int]]:
    """((person, image number) per row, float32 scores [N, A], attribute names, line numbers)."""
    names: tuple[str, ...] | None = None
    images: list[tuple[str, int]] = []
    rows: list[list[float]] = []
    numbers: list[int] = []
    seen: dict[tuple[str, int], int] = {}
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            fields = _fields(line.lstrip()[1:].lstrip())
            if tuple(f.lower() for f in fields[:2]) == HEADER:
                if names is not None:
                    raise DataError(f"{path}:{number}: a second header line")
                names = tuple(fields[2:])
                if not names or not all(names):
                    raise DataError(f"{path}:{number}: the header names no attributes (or has an "
                                    "empty name): expected `#<TAB>person<TAB>imagenum<TAB>Male...`")
            continue
        if names is None:
            raise DataError(f"{path}:{number}: a data row before the header line "
                            "`#<TAB>person<TAB>imagenum<TAB><attribute names>`")
        fields = _fields(line)
        if len(fields) != len(names) + 2:
            raise DataError(f"{path}:{number}: expected a person, an image number and "
                            f"{len(names)} scores separated by tabs, got {len(fields)} fields")
        person, imagenum = fields[0], fields[1]
        if not person:
            raise DataError(f"{path}:{number}: the person's name is empty")
        if not imagenum.isdigit() or int(imagenum) < 1:
            raise DataError(f"{path}:{number}: image number {imagenum!r} is not a positive integer")
        values = []
        for name, text in zip(names, fields[2:]):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise DataError(f"{path}:{number}: {name} is {text!r}; expected a real number")
            values.append(value)
        key = (person, int(imagenum))
        if key in seen:
            raise DataError(f"{path}:{number}: {person} image {int(imagenum)} is already listed "
                            f"on line {seen[key]}")
        seen[key] = number
        images.append(key)
        rows.append(values)
        numbers.append(number)
    if names is None:
        raise DataError(f"{path}: no header line `#<TAB>person<TAB>imagenum<TAB><attribute "
                        "names>`; is this Kumar et al.'s lfw_attributes.txt?")
    if not images:
        raise DataError(f"{path} lists no images")
    scores = np.array(rows, np.float32).reshape(len(rows), len(names))
    return images, scores, names, numbers


def image_file(person: str, number: int) -> str:
    """`Aaron Eckhart`, 1 -> `Aaron_Eckhart/Aaron_Eckhart_0001.jpg`, LFW's naming."""
    folder = person.replace(" ", "_")
    return os.path.join(folder, f"{folder}_{number:04d}.jpg")


def find_image_dir(root: str) -> str:
    """The deep-funneled or the original image folder under root (one level deeper if nested)."""
    for name in IMAGE_DIRS:
        top = os.path.join(root, name)
        if os.path.isdir(top):
            nested = os.path.join(top, name)
            return nested if os.path.isdir(nested) else top
    raise DataError(f"no LFW image folder under {root}: expected "
                    f"{IMAGE_DIRS[0]}/<Name>/<Name>_0001.jpg (lfw-deepfunneled.tgz) or "
                    f"{IMAGE_DIRS[1]}/<Name>/<Name>_0001.jpg (lfw.tgz) beside {ATTR_FILE}")


def _present(image_dir: str, files: list[str]) -> dict[str, int]:
    """{relative file: size} of the listed files that exist, one directory scan per person."""
    sizes: dict[str, int] = {}
    for folder in sorted({os.path.dirname(f) for f in files}):
        try:
            with os.scandir(os.path.join(image_dir, folder)) as entries:
                for entry in entries:
                    try:
                        sizes[os.path.join(folder, entry.name)] = entry.stat().st_size
                    except OSError:
                        sizes[os.path.join(folder, entry.name)] = 0
        except (FileNotFoundError, NotADirectoryError):
            continue
    return sizes


def split_by_person(people: list[str]) -> np.ndarray:
    """Partition (0 train, 1 validation, 2 test) of each image, given its person, [N] int64.

    People are taken in a fixed random order (SPLIT_SEED): each goes to test while test holds
    fewer than ceil(TEST_FRACTION * N) images, then to validation likewise, then to train.
    """
    unique = sorted(set(people))
    if len(unique) < 3:
        raise DataError(f"LFW needs images of at least 3 people to split train, validation and "
                        f"test by person; found {len(unique)}")
    counts = {p: 0 for p in unique}
    for p in people:
        counts[p] += 1
    quotas = [math.ceil(TEST_FRACTION * len(people)), math.ceil(VALIDATION_FRACTION * len(people))]
    filled, split_of = [0, 0], {}
    for i in np.random.default_rng(SPLIT_SEED).permutation(len(unique)):
        person = unique[i]
        split = next((s for s in (0, 1) if filled[s] < quotas[s]), None)
        if split is None:
            split_of[person] = 0
        else:
            filled[split] += counts[person]
            split_of[person] = 2 - split  # test (2) first, then validation (1)
    if 0 not in split_of.values():
        raise DataError("LFW's split by person left no one for training: the test and validation "
                        "quotas took every person")
    return np.array([split_of[p] for p in people], np.int64)


def read_lfw(root: str) -> ImageIndex:
    """Reads an LFW folder under `root` into a ImageIndex whose attributes are the real-valued
    scores of lfw_attributes.txt and whose partition is the split by person."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise DataError(f"LFW folder {root} not found: it should hold {ATTR_FILE} (Kumar et al.) "
                        f"and {IMAGE_DIRS[0]}/ or {IMAGE_DIRS[1]}/ as the LFW archives unpack "
                        "(set --data_dir)")
    attr_path = os.path.join(root, ATTR_FILE)
    if not os.path.isfile(attr_path):
        raise DataError(f"LFW attribute file {attr_path} not found: it is Kumar et al.'s "
                        "lfw_attributes.txt (tab-separated scores of 73 attributes per image)")
    images, scores, names, lines = read_attributes(attr_path)
    image_dir = find_image_dir(root)
    files = [image_file(person, number) for person, number in images]
    sizes = _present(image_dir, files)
    missing = [i for i, f in enumerate(files) if f not in sizes]
    if missing:
        first = missing[0]
        raise DataError(f"{attr_path}:{lines[first]}: {os.path.join(image_dir, files[first])} "
                        f"not found ({len(missing)} listed image(s) missing)")
    empty = [f for f in files if sizes[f] == 0]
    if empty:
        raise DataError(f"{os.path.join(image_dir, empty[0])} is empty ({len(empty)} empty "
                        "image(s))")
    unlisted = sum(1 for f in sizes if f.endswith(".jpg")) - len(files)
    if unlisted:
        logging.info("LFW: %d image(s) of the listed people in %s have no row in %s and are "
                     "left out", unlisted, image_dir, attr_path)
    return ImageIndex(filenames=[os.path.join(image_dir, f) for f in files],
                       attributes=scores, attribute_names=names,
                       partition=split_by_person([person for person, _ in images]))
