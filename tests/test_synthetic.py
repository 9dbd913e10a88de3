"""Tests of the embedded synthetic faces: determinism, the CelebA layout, visible attributes and
the safety rules of ensure_synthetic."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from vaegan_tf.data import synthetic
from vaegan_tf.data.synthetic import ATTRIBUTE_NAMES, ensure_synthetic
from vaegan_tf.errors import DataError

NUM_IMAGES = 240


def _read_attributes(root: str) -> dict[str, np.ndarray]:
    with open(os.path.join(root, synthetic.ATTR_FILE)) as f:
        rows = f.read().splitlines()[2:]
    values = np.array([[int(v) for v in row.split()[1:]] for row in rows]) > 0
    return dict(zip(ATTRIBUTE_NAMES, values.T))


def _all_bytes(root: str) -> dict[str, bytes]:
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    root = str(tmp_path_factory.mktemp("synthetic") / "data")
    ensure_synthetic(root, NUM_IMAGES, seed=0)
    images = np.stack([
        np.asarray(Image.open(os.path.join(root, synthetic.IMAGE_DIR, synthetic.image_name(i))),
                   np.float32) for i in range(NUM_IMAGES)])
    return root, _read_attributes(root), images


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path):
    first, second, other = (str(tmp_path / name) for name in ("a", "b", "c"))
    ensure_synthetic(first, 24, seed=5)
    ensure_synthetic(second, 24, seed=5)
    ensure_synthetic(other, 24, seed=6)
    a, b, c = _all_bytes(first), _all_bytes(second), _all_bytes(other)
    assert len(a) == 24 + 3 and a == b
    differing = [name for name in a if name.endswith(".jpg") and a[name] != c[name]]
    assert len(differing) == 24


def test_layout_matches_celeba(dataset):
    root, _, _ = dataset
    with open(os.path.join(root, synthetic.ATTR_FILE)) as f:
        lines = f.read().splitlines()
    assert lines[0] == str(NUM_IMAGES)
    assert tuple(lines[1].split()) == ATTRIBUTE_NAMES
    assert len(lines) == NUM_IMAGES + 2
    for i, line in enumerate(lines[2:]):
        # CelebA pads each value to two characters: "000001.jpg -1  1 ...".
        assert re.fullmatch(rf"{i + 1:06d}\.jpg( (-1| 1)){{{len(ATTRIBUTE_NAMES)}}}", line), line

    with open(os.path.join(root, synthetic.PARTITION_FILE)) as f:
        rows = [line.split() for line in f.read().splitlines()]
    assert [r[0] for r in rows] == [synthetic.image_name(i) for i in range(NUM_IMAGES)]
    parts = np.array([int(r[1]) for r in rows])
    assert np.array_equal(np.bincount(parts), [192, 24, 24])  # 80/10/10

    with Image.open(os.path.join(root, synthetic.IMAGE_DIR, "000001.jpg")) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (178, 218))
    with open(os.path.join(root, synthetic.MANIFEST_FILE)) as f:
        manifest = json.load(f)
    assert manifest["num_images"] == NUM_IMAGES and manifest["seed"] == 0
    assert manifest["version"] == synthetic.GENERATOR_VERSION
    assert sorted(os.listdir(root)) == sorted([synthetic.IMAGE_DIR, synthetic.ATTR_FILE,
                                               synthetic.PARTITION_FILE, synthetic.MANIFEST_FILE])


def test_attribute_frequencies_and_constraints(dataset):
    _, attributes, _ = dataset
    for name, values in attributes.items():
        assert 0.15 <= values.mean() <= 0.85, (name, values.mean())
    hair = sum(attributes[n].astype(int) for n in ("Black_Hair", "Blond_Hair", "Brown_Hair"))
    assert hair.max() == 1
    assert not np.any(~attributes["No_Beard"] & ~attributes["Male"])  # beards only on men


def _welch_t(feature: np.ndarray, on: np.ndarray) -> float:
    a, b = feature[on], feature[~on]
    return (a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))


def _median_colour(images: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return np.median(images[:, rows, cols].reshape(len(images), -1, 3), axis=1)


def test_attributes_are_visible_in_the_images(dataset):
    """Each attribute shifts a simple pixel statistic of its face region by many standard errors.

    Regions are in image coordinates of CelebA's aligned layout (eyes near row 111, mouth near
    row 150); the skin reference is the bridge of the nose between the eyes.
    """
    _, a, images = dataset
    luma = images.mean(axis=-1)
    skin = _median_colour(images, slice(112, 118), slice(85, 94))

    def distance(rows: slice, cols: slice, reference: np.ndarray) -> np.ndarray:
        return np.abs(_median_colour(images, rows, cols) - reference).sum(axis=1)

    # The background is a linear ramp, so the mean of both edges is its colour in the middle.
    background = (_median_colour(images, slice(52, 60), slice(2, 10))
                  + _median_colour(images, slice(52, 60), slice(168, 176))) / 2
    features = {
        # Dark frame pixels around the eyes.
        "Eyeglasses": (luma[:, 98:126, 48:130] < 60).mean(axis=(1, 2)),
        # Something other than background above the top of the head.
        "Wearing_Hat": distance(slice(52, 60), slice(80, 98), background),
        "Pale_Skin": skin.mean(axis=1),
        # Hair instead of skin across the lower forehead.
        "Bangs": distance(slice(93, 101), slice(78, 100), skin),
        # Long hair beside the neck marks women; the reference is the background at that height.
        "Male": -distance(slice(154, 164), slice(46, 58), _median_colour(
            images, slice(154, 164), slice(2, 10))),
        # Beard instead of skin on the chin.
        "No_Beard": -distance(slice(160, 168), slice(82, 96), skin),
    }
    for name, feature in features.items():
        assert _welch_t(feature, a[name]) > 5, name


@pytest.mark.parametrize("name, rows, cols", [
    ("Smiling", slice(130, 170), slice(60, 118)),
    ("Mouth_Slightly_Open", slice(130, 170), slice(60, 118)),
    ("Eyeglasses", slice(85, 135), slice(30, 148)),
    ("Bangs", slice(55, 115), slice(35, 143)),
    ("Wearing_Hat", slice(25, 110), slice(25, 153)),
])
def test_toggling_one_attribute_changes_only_its_region(name, rows, cols):
    base = {n: False for n in ATTRIBUTE_NAMES} | {"No_Beard": True, "Black_Hair": True}
    for seed in range(4):
        # With the same generator state both faces share pose, colours and all other features.
        before = np.asarray(synthetic.draw_face(np.random.default_rng(seed), base), np.int32)
        after = np.asarray(synthetic.draw_face(np.random.default_rng(seed), base | {name: True}),
                           np.int32)
        changed = np.abs(after - before).sum(axis=-1) > 30
        assert changed.sum() > 30, (name, seed)
        assert changed[rows, cols].sum() >= 0.98 * changed.sum(), (name, seed)


def test_ensure_synthetic_reuses_complete_data(dataset):
    root, _, _ = dataset
    paths = [os.path.join(root, synthetic.ATTR_FILE),
             os.path.join(root, synthetic.IMAGE_DIR, "000001.jpg")]
    before = [os.stat(p).st_mtime_ns for p in paths]
    assert ensure_synthetic(root, NUM_IMAGES, seed=0) == root
    assert [os.stat(p).st_mtime_ns for p in paths] == before


def test_ensure_synthetic_refuses_foreign_folder_untouched(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match=re.escape(str(root)) + ".*--data_dir"):
        ensure_synthetic(str(root), 20, seed=0)
    assert os.listdir(root) == ["notes.txt"] and (root / "notes.txt").read_text() == "keep me"


def test_ensure_synthetic_refuses_other_synthetic_parameters(tmp_path):
    root = str(tmp_path / "data")
    ensure_synthetic(root, 20, seed=0)
    with pytest.raises(DataError, match="seed 0.*--data_dir"):
        ensure_synthetic(root, 20, seed=1)
    with pytest.raises(DataError, match="20 images"):
        ensure_synthetic(root, 30, seed=0)


def test_ensure_synthetic_refuses_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        ensure_synthetic(str(path), 20, seed=0)


def test_interrupted_generation_is_detected_and_finished(tmp_path, monkeypatch):
    root = str(tmp_path / "data")
    calls = []
    draw = synthetic.draw_face

    def failing_draw(rng, attributes):
        calls.append(1)
        if len(calls) > 10:
            raise KeyboardInterrupt
        return draw(rng, attributes)

    monkeypatch.setattr(synthetic, "draw_face", failing_draw)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(root, 24, seed=3)
    monkeypatch.setattr(synthetic, "draw_face", draw)
    assert not os.path.exists(os.path.join(root, synthetic.MANIFEST_FILE))

    ensure_synthetic(root, 24, seed=3)
    fresh = str(tmp_path / "fresh")
    ensure_synthetic(fresh, 24, seed=3)
    assert _all_bytes(root) == _all_bytes(fresh)


def test_missing_image_is_redrawn(tmp_path):
    root = str(tmp_path / "data")
    ensure_synthetic(root, 20, seed=0)
    image = os.path.join(root, synthetic.IMAGE_DIR, "000007.jpg")
    with open(image, "rb") as f:
        original = f.read()
    os.remove(image)
    ensure_synthetic(root, 20, seed=0)
    with open(image, "rb") as f:
        assert f.read() == original
