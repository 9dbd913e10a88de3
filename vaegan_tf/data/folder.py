"""--dataset=folder: every picture under a folder, in subfolders too, read into one ImageIndex.

Pictures are files named .jpg/.jpeg/.png/.bmp/.gif/.webp in any letter case whose first bytes
are those of their format (decode.py reads them). Hidden files and folders (a leading dot:
.DS_Store, ._AppleDouble copies, .git) are not looked at. Everything else is skipped with its
reason, reported in one line at the start of a run (`skip_summary`), never silently:
    not a picture   another extension, or bytes of no picture format
    empty           zero bytes
    unreadable      the operating system refused to read it (permissions, I/O error)
    corrupt         a picture format's start, but decoding failed (truncated, damaged, or too
                    small for --crop's box): found while decoding, by the pipeline (corrupt.py)

Split: a picture's split is a hash of its path under the folder (`split_of`), so it never
changes when pictures are added or removed, nor between machines.
Attributes: an optional CSV (`read_attributes_csv`), a file-name column then one 0/1 or -1/1
column per attribute. Without one, the index has no attributes (A = 0).
Resume: a run records the index it trained on (`index_record`); `check_unchanged` refuses to
resume on a folder whose pictures were added, removed or replaced since.
"""

from __future__ import annotations

import csv
import hashlib
import os

import numpy as np
from absl import logging

from vaegan_tf.data.decode import looks_like_picture
from vaegan_tf.data.index import ImageIndex
from vaegan_tf.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
NOT_A_PICTURE, EMPTY, UNREADABLE, CORRUPT = "not a picture", "empty", "unreadable", "corrupt"
REASONS = (NOT_A_PICTURE, EMPTY, UNREADABLE, CORRUPT)
SHOWN = 5  # paths named in the skip summary


def _kind(path: str, size: int) -> str | None:
    """None for a picture; else why it is not one."""
    if size == 0:
        return EMPTY
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return UNREADABLE
    return None if looks_like_picture(head) else NOT_A_PICTURE


def scan(root: str) -> tuple[list[str], list[int], dict[str, list[str]]]:
    """(pictures' paths under `root`, '/'-separated and sorted; their sizes in bytes; the
    skipped files' paths by reason)."""
    pictures, sizes = [], []
    skipped: dict[str, list[str]] = {reason: [] for reason in REASONS}
    seen_dirs: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:  # a symlink back up the tree
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            if not name.lower().endswith(EXTENSIONS):
                skipped[NOT_A_PICTURE].append(relative)
                continue
            try:
                size = os.stat(path).st_size
            except OSError:
                skipped[UNREADABLE].append(relative)
                continue
            reason = _kind(path, size)
            if reason is None:
                pictures.append(relative)
                sizes.append(size)
            else:
                skipped[reason].append(relative)
    order = np.argsort(pictures, kind="stable")
    return [pictures[i] for i in order], [sizes[i] for i in order], skipped


def split_of(relative: str, val_fraction: float, test_fraction: float) -> int:
    """0 train, 1 validation, 2 test, from the first 8 bytes of SHA-256 of the path under the
    folder as a number u in [0, 1): test below test_fraction, validation up to the sum."""
    u = int.from_bytes(hashlib.sha256(relative.encode("utf-8")).digest()[:8], "big") / 2 ** 64
    return 2 if u < test_fraction else 1 if u < test_fraction + val_fraction else 0


def _csv_value(path: str, line: int, name: str, value: str) -> float:
    if value in ("1", "+1"):
        return 1.0
    if value in ("0", "-1"):
        return 0.0
    raise DataError(f"{path}:{line}: {name} is {value!r}; values must be 0/1 or -1/1")


def read_attributes_csv(path: str, pictures: list[str],
                        skipped: dict[str, list[str]]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(float32 [N, A] 0/1 attributes of `pictures`, in their order; the A names) from a CSV whose
    first column names each picture by its path under the folder (or its file name, where no
    other picture has it)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"--attributes_csv={path}: cannot read it ({e})") from None
    if not rows or len(rows[0]) < 2:
        raise DataError(f"{path}:1: expected a header line: a file-name column, then one column "
                        "per attribute (e.g. `filename,Smiling,Eyeglasses`)")
    names = tuple(h.strip() for h in rows[0][1:])
    if not all(names) or len(set(names)) != len(names):
        raise DataError(f"{path}:1: attribute names must be non-empty and distinct; got "
                        f"{', '.join(names)}")
    by_path = {p: i for i, p in enumerate(pictures)}
    basenames: dict[str, list[int]] = {}
    for i, p in enumerate(pictures):
        basenames.setdefault(p.rsplit("/", 1)[-1], []).append(i)
    broken = {p for paths in skipped.values() for p in paths}
    attributes = np.full((len(pictures), len(names)), np.nan, np.float32)
    unknown = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(names) + 1:
            raise DataError(f"{path}:{line}: expected a file name and {len(names)} values, got "
                            f"{len(row)} fields")
        key = row[0].strip().replace("\\", "/")
        key = key[2:] if key.startswith("./") else key
        i = by_path.get(key)
        if i is None and len(basenames.get(key, ())) == 1:
            i = basenames[key][0]
        if i is None:
            if key not in broken:
                unknown.append(key)
            continue
        if not np.isnan(attributes[i, 0]):
            raise DataError(f"{path}:{line}: {key} is listed twice")
        attributes[i] = [_csv_value(path, line, n, v.strip()) for n, v in zip(names, row[1:])]
    if unknown:
        logging.warning("%s: %d row(s) name no picture of the folder, ignored: %s", path,
                        len(unknown), ", ".join(unknown[:SHOWN]))
    missing = [p for p, row in zip(pictures, attributes) if np.isnan(row[0])]
    if missing:
        raise DataError(f"{path} has no row for {len(missing)} picture(s) of the folder, e.g. "
                        f"{', '.join(missing[:SHOWN])}; add their rows, or move them out")
    return attributes, names


def read_folder(root: str, val_fraction: float, test_fraction: float,
                attributes_csv: str = "") -> ImageIndex:
    """The pictures under `root` (their split by `split_of`), with the CSV's attributes if one
    is given; a missing or empty folder is a DataError."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise DataError(f"--data_dir={root} is not a folder: point it at a folder of pictures "
                        f"({', '.join(EXTENSIONS)}, in subfolders too)")
    pictures, sizes, skipped = scan(root)
    if not pictures:
        found = sum(map(len, skipped.values()))
        raise DataError(f"--data_dir={root} holds no pictures ({', '.join(EXTENSIONS)}, in any "
                        f"letter case, in subfolders too)" +
                        (f"; {found} other file(s) skipped: {_named(skipped)}" if found else ""))
    if attributes_csv:
        attributes, names = read_attributes_csv(attributes_csv, pictures, skipped)
    else:
        attributes, names = np.zeros((len(pictures), 0), np.float32), ()
    partition = np.array([split_of(p, val_fraction, test_fraction) for p in pictures], np.int64)
    return ImageIndex(filenames=[os.path.join(root, p) for p in pictures], attributes=attributes,
                      attribute_names=names, partition=partition,
                      sizes=np.array(sizes, np.int64), root=root,
                      skipped=tuple((reason, tuple(paths)) for reason, paths in skipped.items()
                                    if paths))


def _named(skipped: dict[str, list[str]]) -> str:
    counts = ", ".join(f"{len(paths)} {reason}" for reason, paths in skipped.items() if paths)
    first = [p for paths in skipped.values() for p in paths][:SHOWN]
    return f"{counts} ({', '.join(first)}{', ...' if sum(map(len, skipped.values())) > SHOWN else ''})"


def skip_summary(index: ImageIndex, corrupt: list[str]) -> str | None:
    """One line: how many files under the folder were skipped, why, and the first few paths;
    None when nothing was. `corrupt`: absolute paths the decoder could not read."""
    skipped = {reason: list(paths) for reason, paths in index.skipped}
    skipped[CORRUPT] = [os.path.relpath(p, index.root).replace(os.sep, "/") for p in corrupt]
    skipped = {r: skipped.get(r, []) for r in REASONS}
    count = sum(map(len, skipped.values()))
    if not count:
        return None
    total = len(index) + count - len(skipped[CORRUPT])
    return f"Skipped {count} of {total} files under {index.root}: {_named(skipped)}"


def index_record(index: ImageIndex) -> dict:
    """What a run trained on, to compare on resume: every picture's path, size and split, and a
    digest of the attributes."""
    names = [os.path.relpath(p, index.root).replace(os.sep, "/") for p in index.filenames]
    digest = hashlib.sha256(np.ascontiguousarray(index.attributes).tobytes())
    digest.update("\0".join(index.attribute_names).encode())
    return {"root": index.root, "attributes_sha256": digest.hexdigest(),
            "pictures": [[n, int(s), int(p)] for n, s, p in
                         zip(names, index.sizes, index.partition)]}


def check_unchanged(recorded: dict, index: ImageIndex, record_path: str) -> None:
    """Raises a DataError explaining how the folder changed since `recorded` was written; the
    training stream's order depends on the index, so a changed folder cannot resume it."""
    current = index_record(index)
    # The split is a function of the path and the fractions, which check_resumable compares.
    before = {n: s for n, s, _ in recorded["pictures"]}
    now = {n: s for n, s, _ in current["pictures"]}
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    resized = sorted(n for n in set(now) & set(before) if now[n] != before[n])
    changes = [f"{len(names)} {what} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
               for what, names in (("added", added), ("removed", removed),
                                   ("replaced (size changed)", resized)) if names]
    if recorded["attributes_sha256"] != current["attributes_sha256"] and not changes:
        changes.append("the attributes changed (--attributes_csv)")
    if changes:
        raise DataError(
            f"{index.root} changed since this run started ({record_path}): pictures "
            f"{'; '.join(changes)}. The training stream is a function of the folder's index, so "
            "resuming would train on a different stream: restore the folder as it was, or train "
            "in a new --workdir")
