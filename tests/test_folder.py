"""folder.py: the scan, the split, the attributes CSV, the skip summary and the resume check, on
folders written in the real formats (picture_fixtures); and a folder through the training stream."""

import os
import shutil

import numpy as np
import pytest
from absl import logging
from conftest import tiny_config
from picture_fixtures import BROKEN, formats, truncated_jpeg, write_mixed_folder

from vaegan_tf import data
from vaegan_tf.data import folder
from vaegan_tf.errors import DataError


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mixed") / "pictures")
    return root, write_mixed_folder(root, count=40)


def test_scan_finds_every_format_in_subfolders_and_says_why_others_are_skipped(mixed):
    root, names = mixed
    pictures, sizes, skipped = folder.scan(root)
    # Every format and extension case (.JPEG, .PNG, .GIF) two levels down, plus the truncated JPEG
    # (its first bytes are a JPEG's: the decoder finds it broken, not the scan).
    assert pictures == sorted(names + ["set0/truncated.jpg"])
    assert {os.path.splitext(p)[1] for p in pictures} >= {".jpg", ".JPEG", ".PNG", ".png", ".bmp",
                                                            ".GIF", ".webp"}
    assert sizes == [os.path.getsize(os.path.join(root, p)) for p in pictures]
    assert sorted(skipped[folder.NOT_A_PICTURE]) == ["notes.txt", "scan.tif", "text_named.png"]
    assert skipped[folder.EMPTY] == ["empty.jpg"]
    assert not any(".DS_Store" in p for paths in skipped.values() for p in paths)


def test_scan_survives_a_symlink_loop_and_names_a_dangling_link(tmp_path):
    data_bytes = formats()["rgb.png"][0]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "face.png").write_bytes(data_bytes)
    os.symlink(str(tmp_path), str(tmp_path / "a" / "loop"))
    os.symlink(str(tmp_path / "gone.png"), str(tmp_path / "dangling.png"))
    pictures, _, skipped = folder.scan(str(tmp_path))
    assert pictures == ["a/face.png"]
    assert skipped[folder.UNREADABLE] == ["dangling.png"]


def test_split_is_a_function_of_the_path_alone():
    paths = [f"dir{i % 7}/img_{i}.jpg" for i in range(20000)]
    splits = np.array([folder.split_of(p, 0.1, 0.2) for p in paths])
    assert abs(np.mean(splits == 2) - 0.2) < 0.01 and abs(np.mean(splits == 1) - 0.1) < 0.01
    # The same path always lands in the same split, whatever else the folder holds; a larger
    # test fraction only moves pictures into test.
    again = [folder.split_of(p, 0.1, 0.2) for p in reversed(paths)]
    assert list(reversed(again)) == list(splits)
    wider = np.array([folder.split_of(p, 0.1, 0.3) for p in paths])
    assert np.all(wider[splits == 2] == 2)


def test_adding_pictures_leaves_every_other_split_unchanged(tmp_path):
    write_mixed_folder(str(tmp_path), count=30, broken=False)
    before = folder.read_folder(str(tmp_path), 0.2, 0.2)
    (tmp_path / "set1" / "new.png").write_bytes(formats()["rgb.png"][0])
    after = folder.read_folder(str(tmp_path), 0.2, 0.2)
    assert len(after) == len(before) + 1
    old = dict(zip(before.filenames, before.partition))
    assert all(old[f] == p for f, p in zip(after.filenames, after.partition) if f in old)


def _csv(tmp_path, text, name="attrs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_attributes_csv_by_path_or_unique_file_name_in_either_convention(tmp_path):
    pictures = ["a/x.png", "b/x.png", "b/y.jpg"]
    path = _csv(tmp_path, "\ufefffilename,Smiling,Hat\n./a/x.png,1,-1\nb\\x.png,+1,1\n\n"
                          "y.jpg,0,1\n")
    attributes, names = folder.read_attributes_csv(path, pictures, {})
    assert names == ("Smiling", "Hat")
    np.testing.assert_array_equal(attributes, [[1, 0], [1, 1], [0, 1]])


def test_attributes_csv_warns_once_about_rows_for_no_picture(tmp_path, monkeypatch):
    warned = []
    monkeypatch.setattr(logging, "warning", lambda *args: warned.append(args[0] % args[1:]))
    path = _csv(tmp_path, "file,A\nx.png,1\nghost.png,0\nbroken.jpg,1\n")
    folder.read_attributes_csv(path, ["x.png"], {folder.EMPTY: ["broken.jpg"]})
    assert len(warned) == 1 and "1 row(s) name no picture" in warned[0] and "ghost.png" in warned[0]


@pytest.mark.parametrize("text,needle", [
    ("", ":1: expected a header line"),
    ("filename\nx.png\n", ":1: expected a header line"),
    ("file,A,A\nx.png,1,0\n", ":1: attribute names must be non-empty and distinct"),
    ("file,A\nx.png,yes\n", ":2: A is 'yes'; values must be 0/1 or -1/1"),
    ("file,A\nx.png,0.5\n", ":2: A is '0.5'"),
    ("file,A,B\nx.png,1\n", ":2: expected a file name and 2 values, got 2 fields"),
    ("file,A\nx.png,1\nx.png,0\n", ":3: x.png is listed twice"),
    ("file,A\nx.png,1\n", "has no row for 1 picture(s) of the folder, e.g. y.png"),
])
def test_malformed_attributes_csv_names_file_line_and_cause(tmp_path, text, needle):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=None) as error:
        folder.read_attributes_csv(path, ["x.png", "y.png"] if "no row" in needle else ["x.png"],
                                   {})
    assert str(error.value).startswith(path) and needle in str(error.value), str(error.value)


def test_unreadable_attributes_csv(tmp_path):
    with pytest.raises(DataError, match="--attributes_csv=.*missing.csv: cannot read it"):
        folder.read_attributes_csv(str(tmp_path / "missing.csv"), ["x.png"], {})
    path = tmp_path / "latin1.csv"
    path.write_bytes("file,A\ncaf\xe9.png,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot read it"):
        folder.read_attributes_csv(str(path), ["x.png"], {})


@pytest.mark.parametrize("setup,needle", [
    (lambda root: None, "is not a folder"),
    (lambda root: os.makedirs(root), "holds no pictures"),
    (lambda root: (os.makedirs(root), open(os.path.join(root, "notes.txt"), "w").close()),
     "holds no pictures (.jpg, .jpeg, .png, .bmp, .gif, .webp, in any letter case, in subfolders "
     "too); 1 other file(s) skipped: 1 not a picture (notes.txt)"),
])
def test_folders_without_pictures_are_a_data_error(tmp_path, setup, needle):
    root = str(tmp_path / "pictures")
    setup(root)
    with pytest.raises(DataError) as error:
        folder.read_folder(root, 0.1, 0.1)
    assert f"--data_dir={root}" in str(error.value) and needle in str(error.value)


def test_skip_summary_is_one_line_with_counts_reasons_and_first_paths(mixed):
    root, _ = mixed
    index = folder.read_folder(root, 0.1, 0.1)
    line = folder.skip_summary(index, [os.path.join(root, "set0", "truncated.jpg")])
    assert "\n" not in line
    assert line.startswith(f"Skipped 5 of {len(index) + 4} files under {root}: ")
    assert "3 not a picture, 1 empty, 1 corrupt (" in line and "set0/truncated.jpg" in line


def test_nothing_skipped_gives_no_summary(tmp_path):
    write_mixed_folder(str(tmp_path), count=4, broken=False)
    assert folder.skip_summary(folder.read_folder(str(tmp_path), 0.1, 0.1), []) is None


def test_check_unchanged_explains_each_change_and_accepts_a_moved_folder(tmp_path):
    root = tmp_path / "pictures"
    write_mixed_folder(str(root), count=12, broken=False)
    csv_path = tmp_path / "a.csv"
    rows = [f"{p},1" for p in folder.scan(str(root))[0]]
    csv_path.write_text("file,A\n" + "\n".join(rows) + "\n")
    record = folder.index_record(folder.read_folder(str(root), 0.1, 0.1, str(csv_path)))

    def check(root_now=root, csv_now=csv_path):
        folder.check_unchanged(record, folder.read_folder(str(root_now), 0.1, 0.1, str(csv_now)),
                               "W/folder_index.json")

    check()
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    check(moved)  # paths are kept relative to the folder

    (root / "extra.png").write_bytes(formats()["rgb.png"][0])
    csv_path.write_text(csv_path.read_text() + "extra.png,0\n")
    with pytest.raises(DataError, match=r"changed since this run started \(W/folder_index.json\): "
                                        r"pictures 1 added \(extra.png\)"):
        check()
    os.remove(root / "extra.png")
    first = folder.scan(str(root))[0][0]
    os.remove(root / first)
    with pytest.raises(DataError, match=rf"1 removed \({first}\).*restore the folder as it was, "
                                        "or train in a new --workdir"):
        check()
    shutil.copy(moved / first, root / first)
    with open(root / first, "ab") as f:
        f.write(b"\0")
    with pytest.raises(DataError, match=rf"1 replaced \(size changed\) \({first}\)"):
        check()
    shutil.copy(moved / first, root / first)
    csv_path.write_text(csv_path.read_text().replace(",1\n", ",0\n", 1))
    with pytest.raises(DataError, match=r"the attributes changed \(--attributes_csv\)"):
        check()


@pytest.mark.parametrize("name", sorted(BROKEN) + ["truncated.jpg"])
def test_each_broken_file_is_skipped_with_its_reason_and_training_goes_on(tmp_path, name):
    root = tmp_path / "pictures"
    write_mixed_folder(str(root), count=20, broken=False)
    contents = truncated_jpeg() if name == "truncated.jpg" else BROKEN[name][0]
    (root / name).write_bytes(contents)
    reason = "corrupt" if name == "truncated.jpg" else BROKEN[name][1]
    config = tiny_config(dataset="folder", data_dir=str(root), batch_size=4, cache="memory",
                         val_fraction=0.2, test_fraction=0.2)
    index = data.load_index(config)
    skipped = data.CorruptImages(log_each=False)
    stream = data.training_stream(config, "train+val", index, corrupt=skipped)
    for images, attributes in stream(0).take(3):
        assert images.shape == (4, 32, 32, 3) and attributes.shape == (4, 0)
    line = folder.skip_summary(index, skipped.names())
    assert f": 1 {reason} ({name})" in line, line
