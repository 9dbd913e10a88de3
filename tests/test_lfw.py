"""The LFW reader on generated folders and attribute files in Kumar et al.'s format."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from celeba_fixtures import replace_once
from conftest import tiny_config
from lfw_fixtures import LFW_ATTRIBUTES, PEOPLE, write_lfw

from vaegan_tf import data
from vaegan_tf.data import lfw, preprocess
from vaegan_tf.errors import ConfigError, DataError

ATTR = "lfw_attributes.txt"


def _people(index) -> list[str]:
    return [os.path.basename(os.path.dirname(f)) for f in index.filenames]


def test_reads_the_real_format(tmp_path):
    lines, scores = write_lfw(tmp_path)
    index = lfw.read_lfw(str(tmp_path))
    assert index.attribute_names == LFW_ATTRIBUTES and len(LFW_ATTRIBUTES) == 73
    assert len(index) == sum(PEOPLE.values()) == len(lines)
    assert index.attributes.dtype == np.float32
    np.testing.assert_array_equal(index.attributes, scores)
    assert index.attributes.min() < -1 and index.attributes.max() > 1  # real-valued, not 0/1
    # Row order is file order; names with spaces map to folders with underscores.
    assert index.filenames[0] == os.path.join(str(tmp_path), "lfw-deepfunneled", "Aaron_Eckhart",
                                              "Aaron_Eckhart_0001.jpg")
    expected = [os.path.join(p.replace(" ", "_"), f"{p.replace(' ', '_')}_{k:04d}.jpg")
                for p, n in PEOPLE.items() for k in range(1, n + 1)]
    assert [os.path.relpath(f, tmp_path / "lfw-deepfunneled") for f in index.filenames] == expected
    assert all(os.path.isfile(f) for f in index.filenames)


def test_split_by_person_is_deterministic_and_disjoint(tmp_path):
    write_lfw(tmp_path)
    index = lfw.read_lfw(str(tmp_path))
    people = np.array(_people(index))
    splits = [set(people[index.partition == s]) for s in (0, 1, 2)]
    assert all(splits)  # train, validation and test each hold someone
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    n = len(index)
    counts = np.bincount(index.partition, minlength=3)
    # Test and validation each reach ceil(10%) of the images with whole people.
    assert counts[2] >= np.ceil(0.1 * n) and counts[1] >= np.ceil(0.1 * n) and counts[0] > n / 2
    again = lfw.read_lfw(str(tmp_path))
    np.testing.assert_array_equal(again.partition, index.partition)


def test_split_by_person_fills_the_quotas_in_a_fixed_order():
    people = ["a"] * 5 + ["b"] * 1 + ["c"] * 2 + ["d"] * 2 + ["e"] * 10
    partition = lfw.split_by_person(people)
    order = np.random.default_rng(lfw.SPLIT_SEED).permutation(5)  # people sorted: a..e
    quota, expected, filled = 2, {}, [0, 0]  # ceil(0.1 * 20)
    for person in np.array(list("abcde"))[order]:
        split = next((s for s in (0, 1) if filled[s] < quota), None)
        expected[person] = 0 if split is None else 2 - split
        if split is not None:
            filled[split] += people.count(person)
    assert partition.tolist() == [expected[p] for p in people]
    with pytest.raises(DataError, match="at least 3 people"):
        lfw.split_by_person(["a", "a", "b"])


@pytest.mark.parametrize("image_dir", ["lfw", "lfw-deepfunneled",
                                       os.path.join("lfw-deepfunneled", "lfw-deepfunneled")])
def test_layouts(tmp_path, image_dir):
    _, scores = write_lfw(tmp_path, image_dir=image_dir, newline="\r\n")
    index = lfw.read_lfw(str(tmp_path))
    assert all(f.startswith(os.path.join(str(tmp_path), image_dir) + os.sep)
               for f in index.filenames)
    np.testing.assert_array_equal(index.attributes, scores)


def test_deep_funneled_is_preferred_when_both_are_present(tmp_path):
    write_lfw(tmp_path, image_dir="lfw")
    write_lfw(tmp_path, image_dir="lfw-deepfunneled")
    index = lfw.read_lfw(str(tmp_path))
    assert all(os.sep + "lfw-deepfunneled" + os.sep in f for f in index.filenames)


def test_images_without_attributes_are_left_out(tmp_path):
    lines, scores = write_lfw(tmp_path, unlisted=2)
    index = lfw.read_lfw(str(tmp_path))
    assert len(index) == sum(PEOPLE.values()) - 2 == len(scores)
    assert not any(f.endswith(("Tony_Blair_0004.jpg", "Tony_Blair_0005.jpg"))
                   for f in index.filenames)
    assert os.path.isfile(tmp_path / "lfw-deepfunneled" / "Tony_Blair" / "Tony_Blair_0005.jpg")


def _edit(root, old: str, new: str) -> None:
    replace_once(os.path.join(root, ATTR), old, new)


def _line_of(lines, person: str, number: int) -> str:
    return next(l for l in lines if l.startswith(f"{person}\t{number}\t"))


# Line numbers: 1 is the "# " comment, 2 the header, data rows from 3 in PEOPLE's order.
BAD = {
    "extra field": (lambda r, L: _edit(r, L[1], L[1] + "\t0.5"),
                    rf"{ATTR}:4: .*73 scores .*76 fields"),
    "missing field": (lambda r, L: _edit(r, L[2], L[2].rsplit("\t", 1)[0]),
                      rf"{ATTR}:5: .*74 fields"),
    "spaces for tabs": (lambda r, L: _edit(r, L[0], L[0].replace("\t", " ")),
                        rf"{ATTR}:3: .*1 fields"),
    "bad score": (lambda r, L: _edit(r, L[3], L[3].rsplit("\t", 1)[0] + "\tabc"),
                  rf"{ATTR}:6: Wearing Necklace is 'abc'; expected a real number"),
    "nan score": (lambda r, L: _edit(r, L[3], "\t".join(L[3].split("\t")[:2] + ["nan"] +
                                                        L[3].split("\t")[3:])),
                  rf"{ATTR}:6: Male is 'nan'"),
    "bad image number": (lambda r, L: _edit(r, "Ben Affleck\t2\t", "Ben Affleck\ttwo\t"),
                         rf"{ATTR}:8: image number 'two'"),
    "duplicate": (lambda r, L: _edit(r, "Ben Affleck\t2\t", "Ben Affleck\t1\t"),
                  rf"{ATTR}:8: Ben Affleck image 1 is already listed on line 7"),
    "no header": (lambda r, L: _edit(r, "#\tperson\timagenum", "#\tname\tnumber"),
                  rf"{ATTR}:3: a data row before the header"),
    "listed but absent": (lambda r, L: os.remove(os.path.join(
        r, "lfw-deepfunneled", "Naomi_Watts", "Naomi_Watts_0002.jpg")),
        rf"{ATTR}:19: .*Naomi_Watts_0002.jpg not found \(1 listed image"),
    "person folder absent": (lambda r, L: shutil.rmtree(os.path.join(
        r, "lfw-deepfunneled", "Naomi_Watts")), r"Naomi_Watts_0001.jpg not found \(2 listed"),
    "empty image": (lambda r, L: open(os.path.join(
        r, "lfw-deepfunneled", "Ben_Affleck", "Ben_Affleck_0002.jpg"), "w").close(),
        r"Ben_Affleck_0002.jpg is empty"),
    "no attribute file": (lambda r, L: os.remove(os.path.join(r, ATTR)),
                          rf"{ATTR} not found: it is Kumar et al.'s"),
    "no image folder": (lambda r, L: shutil.rmtree(os.path.join(r, "lfw-deepfunneled")),
                        r"no LFW image folder under .*lfw-deepfunneled/<Name>/<Name>_0001.jpg"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_and_line(tmp_path, case):
    lines, _ = write_lfw(tmp_path)
    damage, message = BAD[case]
    damage(str(tmp_path), lines)
    with pytest.raises(DataError, match=message):
        lfw.read_lfw(str(tmp_path))


def test_missing_root_and_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"LFW folder .*nowhere not found.*--data_dir"):
        lfw.read_lfw(str(tmp_path / "nowhere"))
    write_lfw(tmp_path)
    with open(tmp_path / ATTR, "w") as f:
        f.write("#\tperson\timagenum\tMale\n")
    with pytest.raises(DataError, match=rf"{ATTR} lists no images"):
        lfw.read_lfw(str(tmp_path))


def test_center150_crop_box_is_exact():
    inside = np.zeros((250, 250, 3), np.uint8)
    inside[50:200, 50:200] = 255
    for planted, value in ((inside, 1.0), (255 - inside, -1.0)):
        out = preprocess.preprocess(tf.constant(planted), "center150", 64).numpy()
        np.testing.assert_allclose(out, value, atol=1e-5)
    frame = np.zeros((250, 250, 3), np.uint8)
    frame[[50, 199], 50:200] = 255
    frame[50:200, [50, 199]] = 255
    out = preprocess.preprocess(tf.constant(frame), "center150", 64).numpy().mean(axis=-1)
    for edge in (out[0], out[-1], out[:, 0], out[:, -1]):
        assert edge.min() > -0.8, edge.min()


def test_lfw_defaults_to_its_crop_and_refuses_celebas():
    assert tiny_config(dataset="lfw", data_dir="x").crop == "center150"  # --crop=auto
    with pytest.raises(ConfigError, match="--crop: .*center150"):
        tiny_config(dataset="lfw", data_dir="x", crop="original")


@pytest.mark.parametrize("cache", ["none", "file"])
def test_make_dataset_yields_the_scores(tmp_path, cache):
    _, scores = write_lfw(tmp_path / "lfw_root")
    config = tiny_config(dataset="lfw", data_dir=str(tmp_path / "lfw_root"), crop="center150",
                         cache=cache, cache_dir=str(tmp_path / "cache"), batch_size=4)
    index = data.load_index(config)
    assert data.attribute_names(config) == LFW_ATTRIBUTES
    for split, part in (("test", 2), ("train", 0)):
        for _ in range(2):  # with --cache=file the second pass reads the cache
            got = [(np.asarray(x), np.asarray(y)) for x, y in
                   data.make_dataset(config, split, training=False, index=index)]
            images = np.concatenate([x for x, _ in got])
            attributes = np.concatenate([y for _, y in got])
            np.testing.assert_array_equal(attributes, scores[index.partition == part])
            assert images.shape == (len(attributes), 32, 32, 3)
            # Each flat grey image was drawn from its first score.
            grey = np.clip(128 + 40 * attributes[:, 0], 0, 255).astype(int)
            np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), grey / 127.5 - 1, atol=0.03)
    x, y = next(iter(data.make_dataset(config, "train", training=True, index=index)))
    assert x.shape == (4, 32, 32, 3) and y.shape == (4, 73) and y.dtype == tf.float32
    if cache == "file":
        assert len(os.listdir(tmp_path / "cache")) == 2


@pytest.mark.slow  # trains, evaluates and edits an LFW run
def test_evaluate_and_attributes_label_lfw_scores_by_sign(tmp_path):
    # LFW's attributes are scores, present where positive: the kNN labels, the attribute
    # vectors' positives and the classifier's labels all use the sign, not CelebA's 0.5.
    from conftest import offline_config

    from vaegan_tf.evaluation import attributes, evaluate
    from vaegan_tf.training import train
    write_lfw(tmp_path / "lfw_root")
    config = offline_config(dataset="lfw", data_dir=str(tmp_path / "lfw_root"), crop="center150",
                            batch_size=4, train_steps=2, classifier_dir=str(tmp_path / "clf"))
    workdir = str(tmp_path / "run")
    train.train_mode(config, workdir, verbose=0)
    index = data.load_index(config)
    scores = {p: index.attributes[index.partition == p][:config.eval_images] for p in (0, 2)}
    labels = {p: (s > 0).astype(np.float32) for p, s in scores.items()}
    assert ((scores[0] > 0) != (scores[0] > 0.5)).any()  # the two thresholds do differ here

    record = evaluate.evaluate(config, workdir)
    majority = labels[0].mean(0) > 0.5
    np.testing.assert_allclose(record["knn_chance_error"],
                               np.mean(labels[2] != majority[None, :]), rtol=1e-6)
    with open(os.path.join(config.classifier_dir, "classifier.json")) as f:
        assert '"labels": "present above 0.0"' in f.read()

    attributes.attributes_mode(config, workdir)
    saved = np.load(os.path.join(workdir, "attribute_vectors.npz"))
    np.testing.assert_array_equal(saved["positives"], labels[0].sum(0))
    np.testing.assert_array_equal(saved["negatives"], (1 - labels[0]).sum(0))
