"""CelebA on disk: the official layout and the common CSV repackaging, read into one index.

Official layout under a root folder:
    img_align_celeba/000001.jpg ...        aligned 178x218 RGB faces
    list_attr_celeba.txt                   count line, names line, `000001.jpg  1 -1 ...` rows
    list_eval_partition.txt                `000001.jpg 0` rows: 0 train, 1 validation, 2 test
    list_landmarks_align_celeba.txt        optional: count line, names line, 10 coordinates a row
CSV repackaging (the widely shared Kaggle copy): the same tables as `list_attr_celeba.csv`
(`image_id,5_o_Clock_Shadow,...`), `list_eval_partition.csv` (`image_id,partition`) and optionally
`list_landmarks_align_celeba.csv`, with the images often one folder deeper
(`img_align_celeba/img_align_celeba/*.jpg`). Each table is read from its .txt if present, else its
.csv, so a folder may mix both. Line endings (\\n, \\r\\n), runs of spaces and 1/-1 values are
taken as the real files have them; anything else stops with a DataError naming file and line.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from vaegan_tf.data.index import ImageIndex
from vaegan_tf.errors import DataError

IMAGE_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
LANDMARKS_FILE = "list_landmarks_align_celeba.txt"

# CelebA's 40 attributes in its files' (alphabetical) order; TFDS names them the same.
ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")
LANDMARKS = ("lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
             "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y")


def _read_lines(path: str, what: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            # splitlines() takes \n, \r\n and \r alike, whatever tool last saved the file.
            return f.read().decode("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {what} {path}: {e}") from None


def _table(root: str, txt_name: str, what: str, required: bool = True) -> str | None:
    """The path of a table: its official .txt if present, else the CSV repackaging's .csv."""
    txt = os.path.join(root, txt_name)
    csv_path = txt[:-len(".txt")] + ".csv"
    for path in (txt, csv_path):
        if os.path.isfile(path):
            return path
    if required:
        raise DataError(f"{what} {txt} not found (nor {os.path.basename(csv_path)}, "
                        f"its CSV repackaging)")
    return None


def _rows(path: str, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A .csv's header names and every non-blank line as (line number, fields)."""
    lines = _read_lines(path, what)
    if path.endswith(".csv"):
        parsed = list(csv.reader(lines))
        if not parsed or not parsed[0]:
            raise DataError(f"{path}:1: expected a header line like `image_id,...`")
        header = [h.strip() for h in parsed[0]]
        rows = [(n, [v.strip() for v in r]) for n, r in enumerate(parsed[1:], start=2)
                if any(v.strip() for v in r)]
        return header[1:], rows
    rows = [(n, line.split()) for n, line in enumerate(lines, start=1) if line.strip()]
    return [], rows


def _counted_table(path: str, what: str) -> tuple[tuple[str, ...], list[tuple[int, list[str]]]]:
    """A table with CelebA's count line and names line (.txt) or a header line (.csv)."""
    names, rows = _rows(path, what)
    if path.endswith(".csv"):
        return tuple(names), rows
    if len(rows) < 2 or rows[0][0] != 1:
        raise DataError(f"{path}: expected a count line and a names line")
    try:
        count = int(rows[0][1][0]) if len(rows[0][1]) == 1 else None
    except ValueError:
        count = None
    if count is None:
        raise DataError(f"{path}:1: expected the number of images, got "
                        f"{' '.join(rows[0][1])[:40]!r}")
    names, rows = tuple(rows[1][1]), rows[2:]
    if count != len(rows):
        raise DataError(f"{path}: the first line says {count} images but {len(rows)} are listed")
    return names, rows


def _check_widths(path: str, rows: list[tuple[int, list[str]]], width: int, what: str) -> None:
    for number, fields in rows:
        if len(fields) != width + 1:
            raise DataError(f"{path}:{number}: expected a file name and {width} {what}, "
                            f"got {len(fields)} fields")


def read_attributes(path: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """File names, float32 0/1 attributes and attribute names from list_attr_celeba.txt/.csv."""
    names, rows = _counted_table(path, "attribute file")
    if not names:
        raise DataError(f"{path}: expected the attribute names")
    _check_widths(path, rows, len(names), "values")
    table = np.array([fields[1:] for _, fields in rows], dtype=str).reshape(len(rows), len(names))
    positive, negative = table == "1", table == "-1"
    bad = ~(positive | negative)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(f"{path}:{rows[row][0]}: {names[column]} is {str(table[row, column])!r}; "
                        f"values must be -1 or 1")
    filenames = [fields[0] for _, fields in rows]
    _check_unique(filenames, path)
    return filenames, positive.astype(np.float32), names


def read_partition(path: str) -> dict[str, int]:
    """{file name: 0|1|2} from list_eval_partition.txt/.csv."""
    _, rows = _rows(path, "partition file")
    partition = {}
    for number, fields in rows:
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path}:{number}: expected `<image> <0|1|2>`, got "
                            f"{' '.join(fields)!r}")
        if fields[0] in partition:
            raise DataError(f"{path}:{number}: {fields[0]} is listed twice")
        partition[fields[0]] = int(fields[1])
    return partition


def read_landmarks(path: str) -> dict[str, np.ndarray]:
    """{file name: int32 [10]} from list_landmarks_align_celeba.txt/.csv."""
    names, rows = _counted_table(path, "landmarks file")
    if len(names) != len(LANDMARKS):
        raise DataError(f"{path}: expected {len(LANDMARKS)} landmark names "
                        f"({' '.join(LANDMARKS)}), got {len(names)}")
    _check_widths(path, rows, len(LANDMARKS), "coordinates")
    landmarks = {}
    for number, fields in rows:
        try:
            landmarks[fields[0]] = np.array([int(v) for v in fields[1:]], np.int32)
        except ValueError:
            raise DataError(f"{path}:{number}: landmark coordinates must be integers") from None
    return landmarks


def _check_unique(filenames: list[str], path: str) -> None:
    if len(set(filenames)) != len(filenames):
        seen: set[str] = set()
        duplicate = next(f for f in filenames if f in seen or seen.add(f))
        raise DataError(f"{path}: {duplicate} is listed twice")


def _check_same_images(filenames: list[str], other: dict, path: str, other_path: str) -> None:
    listed = set(filenames)
    only_other = sorted(set(other) - listed)
    only_here = [f for f in filenames if f not in other]
    for missing, here, there in ((only_other, other_path, path), (only_here, path, other_path)):
        if missing:
            raise DataError(f"{missing[0]} is listed in {here} but not in {there} "
                            f"({len(missing)} such image(s))")


def _scan(folder: str) -> dict[str, int]:
    # One directory scan instead of one stat() per listed image: CelebA has 202,599 of them.
    sizes = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                sizes[entry.name] = entry.stat().st_size
            except OSError:
                sizes[entry.name] = 0
    return sizes


def find_image_dir(root: str, first_image: str) -> str:
    """img_align_celeba/, or img_align_celeba/img_align_celeba/ as the Kaggle archive unpacks."""
    top = os.path.join(root, IMAGE_DIR)
    nested = os.path.join(top, IMAGE_DIR)
    if not os.path.isdir(top):
        raise DataError(f"image folder {top} not found: it should hold the aligned JPEGs "
                        f"(000001.jpg ...), directly or in {nested}")
    if os.path.isdir(nested) and not os.path.exists(os.path.join(top, first_image)):
        return nested
    return top


def check_images(image_dir: str, filenames: list[str]) -> None:
    """Every listed image exists and is not empty (the contents are checked while decoding)."""
    sizes = _scan(image_dir)
    missing = [f for f in filenames if f not in sizes]
    if missing:
        raise DataError(f"{os.path.join(image_dir, missing[0])} not found "
                        f"({len(missing)} listed image(s) missing)")
    empty = [f for f in filenames if sizes[f] == 0]
    if empty:
        raise DataError(f"{os.path.join(image_dir, empty[0])} is empty "
                        f"({len(empty)} empty image(s))")


def read_celeba(root: str) -> ImageIndex:
    """Reads a CelebA folder (official layout or CSV repackaging) under `root`, checking it."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise DataError(
            f"CelebA folder {root} not found: it should hold {IMAGE_DIR}/, {ATTR_FILE} and "
            f"{PARTITION_FILE} as distributed by CelebA, or their .csv repackaging "
            f"(set --data_dir); for the embedded demo data use --flagfile=demo.flags")
    attr_path = _table(root, ATTR_FILE, "attribute file")
    partition_path = _table(root, PARTITION_FILE, "partition file")
    filenames, attributes, names = read_attributes(attr_path)
    if not filenames:
        raise DataError(f"{attr_path} lists no images")
    partition = read_partition(partition_path)
    _check_same_images(filenames, partition, attr_path, partition_path)
    landmarks = None
    landmarks_path = _table(root, LANDMARKS_FILE, "landmarks file", required=False)
    if landmarks_path is not None:
        by_name = read_landmarks(landmarks_path)
        _check_same_images(filenames, by_name, attr_path, landmarks_path)
        landmarks = np.stack([by_name[f] for f in filenames])
    image_dir = find_image_dir(root, filenames[0])
    check_images(image_dir, filenames)
    return ImageIndex(
        filenames=[os.path.join(image_dir, f) for f in filenames],
        attributes=attributes,
        attribute_names=names,
        partition=np.array([partition[f] for f in filenames], dtype=np.int64),
        landmarks=landmarks)
