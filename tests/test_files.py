"""files.py: every write lands whole or not at all, and a failed one leaves the old file."""

import os

import pytest

from vaegan_tf.files import AlreadyExists, append_jsonl, atomic_path, read_json, write_json


def test_a_file_replaces_the_old_one_in_one_rename(tmp_path):
    path = str(tmp_path / "out.txt")
    for text in ("first", "second"):
        with atomic_path(path) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and not os.path.exists(tmp)
            with open(tmp, "w") as f:
                f.write(text)
            assert not os.path.exists(path) or open(path).read() == "first"  # not yet replaced
    assert open(path).read() == "second" and os.listdir(tmp_path) == ["out.txt"]


def test_an_error_mid_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / "out.txt")
    write_json(path, {"kept": 1})
    with pytest.raises(OSError, match="disk full"):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise OSError("disk full")
    assert read_json(path) == {"kept": 1} and os.listdir(tmp_path) == ["out.txt"]


def test_a_folder_replaces_a_non_empty_folder(tmp_path):
    path = str(tmp_path / "folder")
    for name in ("a", "b"):
        with atomic_path(path) as tmp:
            os.makedirs(tmp)
            open(os.path.join(tmp, name), "w").close()
    assert os.listdir(path) == ["b"] and os.listdir(tmp_path) == ["folder"]


def test_replace_false_keeps_what_is_there_and_staging_is_removed(tmp_path):
    final, staging = str(tmp_path / "model" / "7"), str(tmp_path / ".tmp")
    os.makedirs(final)
    open(os.path.join(final, "old"), "w").close()
    with pytest.raises(AlreadyExists):
        with atomic_path(final, staging_dir=staging, replace=False) as tmp:
            assert os.path.dirname(tmp) == staging
            os.makedirs(tmp)
    assert os.listdir(final) == ["old"] and not os.path.exists(staging)


def test_suffix_ends_the_temporary_name_and_a_leftover_is_cleared(tmp_path):
    path = str(tmp_path / "grid.png")
    with atomic_path(path, suffix=".png") as tmp:
        assert tmp.endswith(".png")
        open(tmp, "w").close()
        leftover = tmp
    os.makedirs(leftover)  # as a killed process of the same pid would have left it
    with atomic_path(path, suffix=".png") as tmp:
        open(tmp, "w").close()
    assert os.listdir(tmp_path) == ["grid.png"]


def test_json_helpers_round_trip_and_append(tmp_path):
    assert read_json(str(tmp_path / "missing.json")) is None
    (tmp_path / "bad.json").write_text("{")
    assert read_json(str(tmp_path / "bad.json")) is None
    log = str(tmp_path / "sub" / "log.jsonl")
    append_jsonl(log, {"a": 1})
    append_jsonl(log, {"b": 2})
    assert open(log).read().splitlines() == ['{"a": 1}', '{"b": 2}']
