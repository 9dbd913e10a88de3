"""Tests of the CelebA readers (official layout, CSV repackaging, landmarks) on generated files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from celeba_fixtures import replace_once, write_csv_layout, write_layout
from conftest import NUM_SYNTHETIC

from vaegan_tf.data import celeba, synthetic
from vaegan_tf.errors import DataError

# --- read_celeba ---------------------------------------------------------------------------------

def test_read_celeba_on_synthetic_data(synthetic_root):
    index = celeba.read_celeba(synthetic_root)
    assert len(index) == NUM_SYNTHETIC and index.attribute_names == synthetic.ATTRIBUTE_NAMES
    assert index.attributes.dtype == np.float32 and index.attributes.shape == (NUM_SYNTHETIC, 11)
    assert set(np.unique(index.attributes)) == {0.0, 1.0}
    assert np.array_equal(np.bincount(index.partition), [96, 12, 12])
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in index.filenames)
    assert os.path.basename(index.filenames[6]) == "000007.jpg"
    with open(os.path.join(synthetic_root, "list_attr_celeba.txt")) as f:
        row = f.read().splitlines()[2 + 6].split()
    assert np.array_equal(index.attributes[6], [float(v == "1") for v in row[1:]])


def test_read_celeba_tolerates_crlf_and_runs_of_spaces(tmp_path):
    attributes = np.array([[1, -1], [-1, 1], [1, 1]])
    write_layout(tmp_path, attributes, [0, 1, 2], names=["Smiling", "Male"], newline="\r\n")
    index = celeba.read_celeba(str(tmp_path))
    assert index.attribute_names == ("Smiling", "Male")
    assert np.array_equal(index.attributes, [[1, 0], [0, 1], [1, 1]])
    assert index.partition.tolist() == [0, 1, 2]


def _corrupt(root, filename: str, old: str, new: str) -> None:
    replace_once(os.path.join(root, filename), old, new)


ATTR = "list_attr_celeba.txt"
PART = "list_eval_partition.txt"


@pytest.mark.parametrize("damage, message", [
    (lambda r: os.remove(os.path.join(r, ATTR)), rf"{ATTR} not found"),
    (lambda r: os.remove(os.path.join(r, PART)), rf"{PART} not found"),
    (lambda r: _corrupt(r, ATTR, "000002.jpg  1 -1", "000002.jpg  1 -1 1"),
     rf"{ATTR}:4: .*4 fields"),
    (lambda r: _corrupt(r, ATTR, "000003.jpg -1", "000003.jpg  0"), rf"{ATTR}:5: A is '0'"),
    (lambda r: _corrupt(r, ATTR, "4\n", "5\n"), rf"{ATTR}: the first line says 5 .* 4 are listed"),
    (lambda r: _corrupt(r, ATTR, "4\n", "four\n"), rf"{ATTR}:1: expected the number"),
    (lambda r: _corrupt(r, PART, "000004.jpg 2", "000004.jpg 2\n000009.jpg 0"),
     rf"000009.jpg is listed in .*{PART} but not in .*{ATTR}"),
    (lambda r: _corrupt(r, PART, "000004.jpg 2\n", ""),
     rf"000004.jpg is listed in .*{ATTR} but not in"),
    (lambda r: _corrupt(r, PART, "000003.jpg 1", "000003.jpg 7"), rf"{PART}:3: expected"),
    (lambda r: _corrupt(r, ATTR, "000003.jpg", "000002.jpg"),
     rf"{ATTR}: 000002.jpg is listed twice"),
    (lambda r: os.remove(os.path.join(r, "img_align_celeba", "000003.jpg")),
     r"img_align_celeba/000003.jpg not found \(1 listed image"),
    (lambda r: open(os.path.join(r, "img_align_celeba", "000002.jpg"), "w").close(),
     r"img_align_celeba/000002.jpg is empty"),
])
def test_read_celeba_rejects_bad_input(tmp_path, damage, message):
    write_layout(tmp_path, np.array([[1, -1], [1, -1], [-1, 1], [1, 1]]), [0, 0, 1, 2],
                 names=["A", "B"])
    damage(str(tmp_path))
    with pytest.raises(DataError, match=message):
        celeba.read_celeba(str(tmp_path))


def test_read_celeba_missing_root_explains_layout_and_demo(tmp_path):
    root = str(tmp_path / "celeba")
    with pytest.raises(DataError) as error:
        celeba.read_celeba(root)
    for part in (root, "img_align_celeba", ATTR, PART, "--flagfile=demo.flags"):
        assert part in str(error.value)


# --- the CSV repackaging and landmarks -----------------------------------------------------------

def test_csv_repackaging_with_nested_images(tmp_path):
    attributes = np.array([[1, -1], [-1, 1], [1, 1], [-1, -1]])
    write_csv_layout(tmp_path, attributes, [0, 0, 1, 2], names=["Smiling", "Male"])
    index = celeba.read_celeba(str(tmp_path))
    assert index.attribute_names == ("Smiling", "Male")
    np.testing.assert_array_equal(index.attributes, (attributes + 1) // 2)
    assert index.partition.tolist() == [0, 0, 1, 2]
    nested = os.path.join(str(tmp_path), "img_align_celeba", "img_align_celeba")
    assert index.filenames[2] == os.path.join(nested, "000003.jpg")
    assert index.landmarks.shape == (4, 10) and index.landmarks[3].tolist() == list(range(3, 13))
    assert index.subset(index.partition == 0).landmarks.shape == (2, 10)


def test_official_landmarks_with_crlf(tmp_path):
    write_layout(tmp_path, np.array([[1], [-1]]), [0, 1], newline="\r\n")
    with open(tmp_path / "list_landmarks_align_celeba.txt", "w", newline="") as f:
        f.write("2\r\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x "
                "leftmouth_y rightmouth_x rightmouth_y\r\n"
                "000001.jpg 69  109  106  113   77  142   73  152  108  154\r\n"
                "000002.jpg 69  110  107  112   81  135   70  151  108  153\r\n")
    index = celeba.read_celeba(str(tmp_path))
    assert index.landmarks[1].tolist() == [69, 110, 107, 112, 81, 135, 70, 151, 108, 153]


def test_no_landmarks_file_is_fine(tmp_path):
    write_csv_layout(tmp_path, np.array([[1], [-1]]), [0, 1], landmarks=False)
    assert celeba.read_celeba(str(tmp_path)).landmarks is None


@pytest.mark.parametrize("old, new, message", [
    ("000002.jpg,-1,1", "000002.jpg,-1,1,1", r"list_attr_celeba.csv:3: .*4 fields"),
    ("000003.jpg,1,1", "000003.jpg,1,yes", r"list_attr_celeba.csv:4: B is 'yes'"),
])
def test_csv_rows_are_checked(tmp_path, old, new, message):
    write_csv_layout(tmp_path, np.array([[1, -1], [-1, 1], [1, 1]]), [0, 1, 2], names=["A", "B"])
    path = tmp_path / "list_attr_celeba.csv"
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode()))
    with pytest.raises(DataError, match=message):
        celeba.read_celeba(str(tmp_path))


def test_bad_landmarks_are_named(tmp_path):
    write_csv_layout(tmp_path, np.array([[1], [-1]]), [0, 1])
    path = tmp_path / "list_landmarks_align_celeba.csv"
    path.write_bytes(path.read_bytes().replace(b"000002.jpg,1,", b"000002.jpg,x,"))
    with pytest.raises(DataError, match=r"list_landmarks_align_celeba.csv:3: .*integers"):
        celeba.read_celeba(str(tmp_path))


def test_missing_image_folder_names_both_places(tmp_path):
    write_csv_layout(tmp_path, np.array([[1], [-1]]), [0, 1])
    os.rename(tmp_path / "img_align_celeba", tmp_path / "images")
    with pytest.raises(DataError, match=r"img_align_celeba not found.*img_align_celeba/img_align"):
        celeba.read_celeba(str(tmp_path))
