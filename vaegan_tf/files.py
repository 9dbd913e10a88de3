"""Writing a run's files so that no reader, and no crash, ever sees half of one.

Every output the package writes (configs, PNGs, caches, SavedModels, weights, JSON records) goes
through `atomic_path`: it is written under a temporary name and put in place with one rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from typing import Any, Iterator


class AlreadyExists(FileExistsError):
    """atomic_path(replace=False) found its path taken when the write was done."""


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "", staging_dir: str = "",
                replace: bool = True) -> Iterator[str]:
    """A temporary path to write a file or a folder to; when the block ends without an error it
    is renamed to `path`, replacing what was there (with replace=False an existing `path` is kept
    and AlreadyExists raised). On an error the temporary is removed and `path` is untouched.

    suffix: ends the temporary's name, for writers that go by extension (PIL's .png, Keras's
        .keras, .weights.h5).
    staging_dir: where the temporary lives (default: beside `path`); a server that watches
        `path`'s folder, as TF Serving watches a model's versions, then never sees it.
    """
    parent = os.path.dirname(os.path.abspath(path))
    staging = staging_dir or parent
    os.makedirs(staging, exist_ok=True)
    tmp = os.path.join(staging, f".{os.path.basename(path)}.tmp-{os.getpid()}{suffix}")
    _remove(tmp)  # left by a process of the same pid that was killed mid-write
    try:
        yield tmp
        os.makedirs(parent, exist_ok=True)
        if not replace and os.path.lexists(path):
            raise AlreadyExists(path)
        if os.path.isdir(tmp) and os.path.isdir(path):
            # A folder cannot be renamed onto a non-empty one: the old one steps aside first, so
            # a crash between the two renames leaves no folder at `path`, never a mixed one.
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)
        if staging_dir:
            with contextlib.suppress(OSError):
                os.rmdir(staging_dir)  # only once no other writer is staging there


# atomic_path's temporaries: ".<name>.tmp-<pid><suffix>" and the ".old" a folder steps aside to.
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str) -> list[str]:
    """Removes the temporaries atomic_path left in `folder`, and in the staging folders under it,
    when the process that wrote them is gone (killed mid-write); returns what it removed.

    A temporary of a process still running on this machine is kept: it may be writing now. (A
    pid only means something on its own machine; a writer on another host sharing the folder
    whose pid is free here would lose its temporary, and its write would fail, not tear.)
    """
    removed = []
    folders = [folder] + [os.path.join(folder, d) for d in _listdir(folder)
                          if d.startswith(".") and not _TEMPORARY.match(d)
                          and os.path.isdir(os.path.join(folder, d))]
    for parent in folders:
        for name in _listdir(parent):
            match = _TEMPORARY.match(name)
            if match and not _running(int(match[1])):
                _remove(os.path.join(parent, name))
                removed.append(os.path.join(parent, name))
        if parent != folder:
            with contextlib.suppress(OSError):
                os.rmdir(parent)  # a staging folder (export/.tmp) that is now empty
    return removed


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="\n") as f:
        f.write(text)


def write_json(path: str, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> Any | None:
    """The JSON value in `path`; None if there is no such file or it does not parse."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def append_jsonl(path: str, record: dict) -> None:
    """Adds one line to a JSON-lines log (an append of one short line is not torn in practice,
    and earlier lines are never rewritten)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
