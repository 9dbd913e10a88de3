"""stream.py, and the training stream built on it: any step's batch, read directly, is exact."""

import time

import numpy as np
import pytest
import tensorflow as tf
from celeba_fixtures import write_layout
from conftest import tiny_config

from vaegan_tf import data
from vaegan_tf.data import stream


def _order(n, seed, first, count):
    return stream.example_index(tf.range(first, first + count, dtype=tf.int64), n, seed).numpy()


def test_each_pass_is_a_new_permutation_of_the_split():
    n = 37
    passes = _order(n, seed=3, first=0, count=4 * n).reshape(4, n)
    for order in passes:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # every example once a pass
    assert len({order.tobytes() for order in passes}) == 4  # a new order each pass
    assert not np.array_equal(passes[0], _order(n, seed=4, first=0, count=n))  # keyed by seed
    # A position's example does not depend on how the positions were batched or where it began.
    scalar = [int(stream.example_index(tf.constant(p, tf.int64), n, 3)) for p in range(70, 80)]
    np.testing.assert_array_equal(scalar, _order(n, 3, 70, 10))


def test_stand_ins_come_from_later_in_the_same_pass():
    n, seed, p = 11, 0, 2 * 11 + 4  # the 5th position of the third pass
    pass_order = _order(n, seed, 2 * n, n)
    for offset in range(3):
        assert int(stream.example_index(tf.constant(p, tf.int64), n, seed, offset)) == \
            pass_order[4 + offset]


def _batches(config, first_step, count):
    batches = data.training_stream(config, "train")(first_step).take(count)
    return [(x.numpy(), y.numpy()) for x, y in batches]


@pytest.mark.parametrize("cache", ["none", *(pytest.param(c, marks=pytest.mark.slow)  # each cache
                                              for c in ("memory", "file"))])
def test_any_step_reads_the_batch_an_uninterrupted_stream_reaches(synthetic_root, tmp_path, cache):
    config = tiny_config(data_dir=synthetic_root, dataset="celeba", batch_size=8, cache=cache,
                         cache_dir=str(tmp_path / "cache"), augment=True)
    straight = _batches(config, 0, 40)  # several passes over the training split
    for start in (1, 13, 27):
        for (x, y), (x2, y2) in zip(straight[start:], _batches(config, start, 3)):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)


def test_the_three_sources_yield_the_same_stream(synthetic_root, tmp_path):
    config = tiny_config(data_dir=synthetic_root, dataset="celeba", batch_size=8,
                         cache_dir=str(tmp_path / "cache"))
    runs = [_batches(config.replace(cache=c), 5, 4) for c in ("none", "memory", "file")]
    for other in runs[1:]:
        for (x, y), (x2, y2) in zip(runs[0], other):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)


def test_a_far_step_reads_only_its_own_images(synthetic_root, tmp_path):
    # Step 10^7 of a 96-image split: reaching it by reading what came before would take hours.
    config = tiny_config(data_dir=synthetic_root, dataset="celeba", batch_size=8, cache="none")
    far = 10 ** 7
    start = time.perf_counter()
    (x, y), = _batches(config, far, 1)
    assert time.perf_counter() - start < 60  # generous: about a second here
    index = data.load_index(config)
    part = index.subset(np.isin(index.partition, data.SPLITS["train"]))
    wanted = _order(len(part.filenames), config.seed, far * 8, 8)
    np.testing.assert_array_equal(y, part.attributes[wanted])


def test_without_a_cache_a_corrupt_image_is_replaced_in_place(tmp_path):
    root, n = str(tmp_path / "d"), 24
    codes = (np.arange(n)[:, None] >> np.arange(5)) & 1  # each image's attributes name it
    write_layout(root, codes * 2 - 1, [0] * (n - 4) + [1, 1, 2, 2])
    config = tiny_config(data_dir=root, dataset="celeba", batch_size=4, cache="none",
                         skip_corrupt=True)
    index = data.load_index(config)
    part = index.subset(np.isin(index.partition, data.SPLITS["train"]))
    n = len(part.filenames)
    order = _order(n, config.seed, 0, n)
    bad = part.filenames[order[1]]  # read at position 1 of the first pass
    with open(bad, "r+b") as f:
        f.truncate(40)
    skipped = data.CorruptImages()
    (x, y), = [(a.numpy(), b.numpy()) for a, b in
               data.training_stream(config, "train", index, skipped)(0).take(1)]
    # Position 1 reads the next image of the pass instead; the others keep their own.
    np.testing.assert_array_equal(y, part.attributes[[order[0], order[2], order[2], order[3]]])
    assert skipped.names() == [bad]
